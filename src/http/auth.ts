/**
 * TPNS authentication (SPEC §2.1): Basic, or the AccessId/TimeStamp/Sign signature over the raw
 * body. Secrets and signatures are compared in constant time, and the answer never tells whether
 * an AccessID exists.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { App } from '../domain/types.ts';
import { apiError } from '../errors.ts';

export interface AuthOptions {
  findApp: (accessId: string) => Promise<App | undefined>;
  maxSkewSeconds: number;
  /** Unix ms; injectable for tests. */
  now?: () => number;
}

/** Stands in for the secret of an AccessID that does not exist, so both paths do the same work. */
const ABSENT_SECRET = 'bindery-absent-app-0000000000000';

/**
 * Constant-time equality of a presented credential with the expected one. The time depends only
 * on the expected value's length (which is not secret: every generated SecretKey has 32
 * characters), never on where the two differ.
 */
export function safeEqual(presented: string, expected: string): boolean {
  const a = Buffer.from(presented, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  if (a.length !== b.length) {
    timingSafeEqual(b, b);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Sign = base64( lowercase_hex( HMAC-SHA256(SecretKey, prefix + raw_body) ) ). */
export function tpnsSign(secretKey: string, prefix: string, rawBody: Buffer): string {
  const hex = createHmac('sha256', secretKey).update(prefix).update(rawBody).digest('hex');
  return Buffer.from(hex, 'utf8').toString('base64');
}

/** A body too large to hold in memory (a bulk import spooled to disk) that can still be signed. */
export interface SignableBody {
  /** The TPNS Sign of prefix + body under this secret. */
  sign(secretKey: string, prefix: string): Promise<string>;
}

const signableBuffer = (raw: Buffer): SignableBody => ({ sign: async (secret, prefix) => tpnsSign(secret, prefix, raw) });

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The secrets that open this app right now: the current one, and a rotated-out one in its grace period. */
function liveSecrets(app: App | undefined, now: number): string[] {
  if (!app) return [ABSENT_SECRET];
  const secrets = [app.secretKey];
  if (app.previousSecretKey && app.previousSecretExpiresAt !== null && app.previousSecretExpiresAt > now) {
    secrets.push(app.previousSecretKey);
  }
  return secrets;
}

function parseBasic(value: string | undefined): { accessId: string; secret: string } | undefined {
  const match = value ? /^basic\s+(\S+)\s*$/i.exec(value) : null;
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { accessId: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** Resolves to the authenticated app, or rejects with 1008003. */
export async function authenticate(headers: IncomingHttpHeaders, rawBody: Buffer | SignableBody, options: AuthOptions): Promise<App> {
  const body = Buffer.isBuffer(rawBody) ? signableBuffer(rawBody) : rawBody;
  const now = options.now?.() ?? Date.now();
  const authorization = header(headers, 'authorization');
  const basic = parseBasic(authorization);
  const accessId = header(headers, 'accessid');
  const timestamp = header(headers, 'timestamp');
  const sign = header(headers, 'sign');
  const hasSignature = accessId !== undefined && timestamp !== undefined && sign !== undefined;
  const problems: string[] = [];

  if (basic) {
    const app = await options.findApp(basic.accessId);
    let ok = false;
    for (const secret of liveSecrets(app, now)) ok = safeEqual(basic.secret, secret) || ok;
    if (ok && app) return app;
    problems.push('Basic credentials: AccessID or SecretKey is wrong');
  } else if (authorization !== undefined) {
    problems.push('Authorization header: expected "Basic base64(AccessID:SecretKey)"');
  }

  if (hasSignature) {
    const seconds = /^\d{1,12}$/.test(timestamp.trim()) ? Number(timestamp.trim()) : NaN;
    if (Number.isNaN(seconds)) {
      problems.push('TimeStamp header: must be Unix time in seconds');
    } else if (Math.abs(now / 1000 - seconds) > options.maxSkewSeconds) {
      const off = Math.round(Math.abs(now / 1000 - seconds));
      problems.push(`TimeStamp header: ${off} s away from the server clock (at most ${options.maxSkewSeconds} s allowed); check the client clock`);
    } else {
      const app = await options.findApp(accessId);
      let ok = false;
      for (const secret of liveSecrets(app, now)) {
        // TPNS signs TimeStamp + AccessId + body; some clients sign AccessId + TimeStamp + body.
        ok = safeEqual(sign, await body.sign(secret, timestamp + accessId)) || ok;
        ok = safeEqual(sign, await body.sign(secret, accessId + timestamp)) || ok;
      }
      if (ok && app) return app;
      problems.push('Sign header: does not match (AccessId, TimeStamp, SecretKey and the exact body bytes must agree)');
    }
  } else if (accessId !== undefined || timestamp !== undefined || sign !== undefined) {
    problems.push('signature: send all three headers AccessId, TimeStamp and Sign');
  }

  if (problems.length === 0) {
    problems.push('no credentials: send "Authorization: Basic base64(AccessID:SecretKey)" or the AccessId, TimeStamp and Sign headers');
  }
  throw apiError.auth(problems.join('; '));
}
