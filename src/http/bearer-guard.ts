/**
 * Bearer tokens of the operator (the admin API, /metrics): compared in constant time. The right
 * token is always let through, so that nobody else's failures (behind one NAT or proxy, everyone
 * shares an address) can lock the operator out. A wrong one is throttled per client address
 * (`BINDERY_TRUST_PROXY` makes that the real client's): past the allowance each failure is answered
 * 429 only after a delay that grows with the failures, so a client that keeps failing is slowed
 * down, and a token of 16 or more characters (config.ts) cannot be guessed at any speed anyway.
 * Each failure is logged with the address (never with what was presented).
 */
import type { FastifyRequest } from 'fastify';
import { type ApiError, apiError } from '../errors.ts';
import { safeEqual } from './auth.ts';

export interface ThrottleOptions {
  /** Failures one address may make in a window before it is refused until the window ends. */
  failures: number;
  windowMs: number;
  /** Addresses remembered at once; the oldest is forgotten beyond (bounds memory under a spray). */
  maxAddresses: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { failures: 10, windowMs: 60_000, maxAddresses: 10_000 };

/** Failed authentications per client address, in fixed windows. */
export class FailedAuthThrottle {
  private readonly byAddress = new Map<string, { since: number; failures: number }>();

  constructor(private readonly options: ThrottleOptions = DEFAULT_THROTTLE) {}

  /** Seconds until `address` may try again; 0 when it may now. */
  blockedFor(address: string, now = Date.now()): number {
    const entry = this.byAddress.get(address);
    if (!entry) return 0;
    const ends = entry.since + this.options.windowMs;
    if (now >= ends) {
      this.byAddress.delete(address);
      return 0;
    }
    return entry.failures >= this.options.failures ? Math.ceil((ends - now) / 1000) : 0;
  }

  /** How long to hold the answer to an address's `failures`-th failure: nothing within the allowance, then 250 ms more each, up to 5 s. */
  delayMs(failures: number): number {
    return Math.min(5000, Math.max(0, failures - this.options.failures) * 250);
  }

  /** Records a failure; returns how many this address made in the current window. */
  fail(address: string, now = Date.now()): number {
    let entry = this.byAddress.get(address);
    if (!entry || now >= entry.since + this.options.windowMs) {
      this.byAddress.delete(address);
      if (this.byAddress.size >= this.options.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value!);
      entry = { since: now, failures: 0 };
      this.byAddress.set(address, entry);
    }
    return ++entry.failures;
  }
}

/**
 * An onRequest hook that lets a request through only with `Authorization: Bearer <token>`.
 * `what` names the token in messages and the log ("admin", "metrics").
 */
export function bearerGuard(
  token: string,
  what: string,
  throttle: FailedAuthThrottle,
  refuse: (detail: string) => ApiError,
) {
  return async (request: FastifyRequest): Promise<void> => {
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    if (presented !== undefined && safeEqual(presented, token)) return;
    const wait = throttle.blockedFor(request.ip);
    const failures = throttle.fail(request.ip);
    request.log.warn({ ip: request.ip, url: request.url, failures }, `${what} authentication failed`);
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, throttle.delayMs(failures)));
      throw apiError.authThrottled(wait);
    }
    throw refuse(presented === undefined ? `send "Authorization: Bearer <the ${what} token>"` : 'the token is wrong');
  };
}
