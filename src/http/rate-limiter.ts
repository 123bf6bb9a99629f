/**
 * Per-app token buckets (off unless the app's policy sets a rate limit). Each instance counts for
 * itself: N instances behind a balancer allow up to N times the rate in total.
 */

import { apiError } from '../errors.ts';
import type { App } from '../model/types.ts';

interface Bucket {
  tokens: number;
  updatedAt: number;
  perSecond: number;
  burst: number;
}

export class RateLimiter {
  private readonly buckets = new Map<number, Bucket>();

  /** Takes one request's token from the app's bucket, or throws RATE_LIMITED with Retry-After. */
  take(app: App, now = Date.now()): void {
    const limit = app.rateLimit;
    if (!limit) {
      this.buckets.delete(app.id);
      return;
    }
    let bucket = this.buckets.get(app.id);
    if (!bucket || bucket.perSecond !== limit.perSecond || bucket.burst !== limit.burst) {
      bucket = { tokens: limit.burst, updatedAt: now, perSecond: limit.perSecond, burst: limit.burst };
      this.buckets.set(app.id, bucket);
    }
    bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * bucket.perSecond);
    bucket.updatedAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / bucket.perSecond));
    throw apiError.rateLimited(retryAfter, limit.perSecond);
  }
}
