/**
 * TPNS authentication (SPEC §2.1): Basic, or the AccessId/TimeStamp/Sign signature over the raw
 * body. Secrets and signatures are compared in constant time, and the answer never tells whether
 * an AccessID exists.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { apiError } from '../errors.ts';
import type { App } from '../model/types.ts';

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

const signableBuffer = (raw: Buffer): SignableBody => ({
  sign: async (secret, prefix) => tpnsSign(secret, prefix, raw),
});

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

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * "Basic base64(AccessID:SecretKey)", decoded strictly: canonical base64 and nothing after it
 * (Node's decoder would stop at the first foreign character and accept the rest as junk).
 * undefined: no Basic header; a string: what is wrong with it.
 */
function parseBasic(value: string | undefined): { accessId: string; secret: string } | string | undefined {
  const match = value ? /^basic(?:\s+(.*))?$/is.exec(value.trim()) : null;
  if (!match) return undefined;
  const encoded = match[1]?.trim() ?? '';
  if (encoded === '' || !BASE64.test(encoded))
    return 'Authorization header: the Basic credentials are not valid base64 of "AccessID:SecretKey"';
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return 'Authorization header: the Basic credentials must be base64 of "AccessID:SecretKey"';
  return { accessId: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/**
 * Authorization values that opened an app lately, parsed: the same client sends the same header on
 * every request, and decoding it (two regular expressions and base64) was a measurable part of a
 * query. Only a value that verified is kept, so guesses never fill it; the secret is still compared
 * with the app's live secrets on every request. Bounded: cleared when full.
 */
const verifiedBasic = new Map<string, { accessId: string; secret: string }>();
const VERIFIED_BASIC_MAX = 1_000;

function parseBasicOnce(value: string | undefined): ReturnType<typeof parseBasic> {
  return (value !== undefined && verifiedBasic.get(value)) || parseBasic(value);
}

function rememberBasic(value: string, credentials: { accessId: string; secret: string }): void {
  if (verifiedBasic.has(value)) return;
  if (verifiedBasic.size >= VERIFIED_BASIC_MAX) verifiedBasic.clear();
  verifiedBasic.set(value, credentials);
}

/** The app the Basic credentials (parsed from `authorization`) open, or what is wrong. */
async function checkBasic(
  authorization: string,
  credentials: { accessId: string; secret: string },
  options: AuthOptions,
  now: number,
): Promise<App | string> {
  const app = await options.findApp(credentials.accessId);
  let ok = false;
  for (const secret of liveSecrets(app, now)) ok = safeEqual(credentials.secret, secret) || ok;
  if (!ok || !app) return 'Basic credentials: AccessID or SecretKey is wrong';
  rememberBasic(authorization, credentials);
  return app;
}

/** The app the AccessId/TimeStamp/Sign headers open, or what is wrong. */
async function checkSignature(
  accessId: string,
  timestamp: string,
  sign: string,
  body: SignableBody,
  options: AuthOptions,
  now: number,
): Promise<App | string> {
  const seconds = /^\d{1,12}$/.test(timestamp.trim()) ? Number(timestamp.trim()) : NaN;
  if (Number.isNaN(seconds)) return 'TimeStamp header: must be Unix time in seconds';
  if (Math.abs(now / 1000 - seconds) > options.maxSkewSeconds) {
    const off = Math.round(Math.abs(now / 1000 - seconds));
    const allowed = `at most ${options.maxSkewSeconds} s allowed`;
    return `TimeStamp header: ${off} s away from the server clock (${allowed}); check the client clock`;
  }
  const app = await options.findApp(accessId);
  let ok = false;
  for (const secret of liveSecrets(app, now)) {
    // TPNS signs TimeStamp + AccessId + body; some clients sign AccessId + TimeStamp + body.
    ok = safeEqual(sign, await body.sign(secret, timestamp + accessId)) || ok;
    ok = safeEqual(sign, await body.sign(secret, accessId + timestamp)) || ok;
  }
  return ok && app
    ? app
    : 'Sign header: does not match (AccessId, TimeStamp, SecretKey and the exact body bytes must agree)';
}

/**
 * Resolves to the authenticated app, or rejects with AUTH_FAILED. Every credential sent must verify:
 * Basic and a signature together pass only if both are right and name the same app.
 */
export async function authenticate(
  headers: IncomingHttpHeaders,
  rawBody: Buffer | SignableBody,
  options: AuthOptions,
): Promise<App> {
  const now = options.now?.() ?? Date.now();
  const authorization = header(headers, 'authorization');
  const basic = parseBasicOnce(authorization);
  const accessId = header(headers, 'accessid');
  const timestamp = header(headers, 'timestamp');
  const sign = header(headers, 'sign');

  // The common case, Basic alone: the same answers as below, without collecting them.
  if (typeof basic === 'object' && sign === undefined && accessId === undefined && timestamp === undefined) {
    const app = await checkBasic(authorization!, basic, options, now);
    if (typeof app === 'string') throw apiError.auth(app);
    return app;
  }

  const body = Buffer.isBuffer(rawBody) ? signableBuffer(rawBody) : rawBody;
  const results: (App | string)[] = [];
  if (basic !== undefined)
    results.push(typeof basic === 'string' ? basic : await checkBasic(authorization!, basic, options, now));
  if (sign !== undefined) {
    results.push(
      accessId === undefined || timestamp === undefined
        ? 'signature: send all three headers AccessId, TimeStamp and Sign'
        : await checkSignature(accessId, timestamp, sign, body, options, now),
    );
  } else if (basic === undefined && (accessId !== undefined || timestamp !== undefined)) {
    results.push('signature: send all three headers AccessId, TimeStamp and Sign');
  }

  const problems = results.filter((r): r is string => typeof r === 'string');
  const apps = results.filter((r): r is App => typeof r !== 'string');
  if (problems.length === 0 && apps.length === 2 && apps[0]!.id !== apps[1]!.id)
    problems.push('Basic credentials and signature name different apps');
  if (problems.length === 0 && apps[0]) return apps[0];
  if (results.length === 0) {
    problems.push(
      authorization === undefined
        ? 'no credentials: send "Authorization: Basic base64(AccessID:SecretKey)" ' +
            'or the AccessId, TimeStamp and Sign headers'
        : 'Authorization header: expected "Basic base64(AccessID:SecretKey)"',
    );
  }
  throw apiError.auth(problems.join('; '));
}
