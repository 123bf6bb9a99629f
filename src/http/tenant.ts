/** Who is calling: authenticate the app (SPEC §2.1) on the raw body, then spend one token of its rate limit. */
import type { FastifyRequest } from 'fastify';
import type { BindingStore } from '../model/store.ts';
import type { App } from '../model/types.ts';
import { authenticate, type SignableBody } from './auth.ts';
import type { RateLimiter } from './rate-limiter.ts';

export interface TenantOptions {
  store: BindingStore;
  limiter: RateLimiter;
  signMaxSkewSeconds: number;
  /** One deadline per request: every store call it makes (authentication included) is answered within this. */
  storeTimeoutMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Unix ms by which the request's store calls are answered (set by tenantOf). */
    deadline: number;
  }
}

export const rawBody = (request: FastifyRequest): Buffer =>
  Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);

export async function tenantOf(
  request: FastifyRequest,
  options: TenantOptions,
  body: Buffer | SignableBody = rawBody(request),
): Promise<App> {
  const deadline = (request.deadline = Date.now() + options.storeTimeoutMs);
  const app = await authenticate(request.headers, body, {
    findApp: (accessId) => options.store.findApp(accessId, deadline),
    maxSkewSeconds: options.signMaxSkewSeconds,
  });
  options.limiter.take(app);
  return app;
}
