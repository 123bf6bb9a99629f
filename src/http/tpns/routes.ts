/** Registers the two TPNS endpoints: authenticate on the raw body, parse, then hand to the operation. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../domain/types.ts';
import type { BindingStore } from '../../store/store.ts';
import { authenticate } from '../auth.ts';
import { batchoperate } from './batchoperate.ts';
import { parseJsonObject } from './parse-body.ts';
import { query } from './query.ts';
import { BatchoperateResponse, errorResponses, QueryResponse } from './schemas.ts';

export const TPNS_PATHS = ['/v3/device/account/batchoperate', '/v3/device/account/query'] as const;

export const REVISION_HEADER = 'x-bindery-revision';

export interface TpnsRouteOptions {
  store: BindingStore;
  maxTokenBytes: number;
  signMaxSkewSeconds: number;
}

export async function tpnsRoutes(app: FastifyInstance, options: TpnsRouteOptions): Promise<void> {
  const { store, maxTokenBytes } = options;
  const findApp = (accessId: string) => store.findApp(accessId);

  /** Authentication comes first and reads the raw bytes (SPEC §2.3); only then is the body parsed. */
  async function admit(request: FastifyRequest): Promise<{ app: App; body: Record<string, unknown> }> {
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const app = await authenticate(request.headers, raw, { findApp, maxSkewSeconds: options.signMaxSkewSeconds });
    return { app, body: parseJsonObject(raw) };
  }

  app.post(
    TPNS_PATHS[0],
    { schema: { tags: ['TPNS'], summary: 'Bind and unbind tokens and accounts (ops 1..5)', response: { 200: BatchoperateResponse, ...errorResponses } } },
    async (request, reply) => {
      const { app: tenant, body } = await admit(request);
      const answer = await batchoperate(store, tenant, body, maxTokenBytes);
      // The app's write revision: batches of one app were applied in the order of their revisions.
      if (answer.revision !== undefined) reply.header(REVISION_HEADER, String(answer.revision));
      return answer.body;
    },
  );

  app.post(
    TPNS_PATHS[1],
    { schema: { tags: ['TPNS'], summary: 'Tokens of accounts (op 1) or accounts of tokens (op 2)', response: { 200: QueryResponse, ...errorResponses } } },
    async (request) => {
      const { app: tenant, body } = await admit(request);
      return query(store, tenant, body, maxTokenBytes);
    },
  );
}
