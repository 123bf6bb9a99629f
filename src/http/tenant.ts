/** Who is calling: authenticate the app (SPEC §2.1) on the raw body, then spend one token of its rate limit. */
import type { FastifyRequest } from 'fastify';
import type { App } from '../domain/types.ts';
import type { BindingStore } from '../store/store.ts';
import { authenticate, type SignableBody } from './auth.ts';
import type { RateLimiter } from './rate-limiter.ts';

export interface TenantOptions {
  store: BindingStore;
  limiter: RateLimiter;
  signMaxSkewSeconds: number;
}

export const rawBody = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));

export async function tenantOf(request: FastifyRequest, options: TenantOptions, body: Buffer | SignableBody = rawBody(request)): Promise<App> {
  const app = await authenticate(request.headers, body, {
    findApp: (accessId) => options.store.findApp(accessId),
    maxSkewSeconds: options.signMaxSkewSeconds,
  });
  options.limiter.take(app);
  return app;
}
