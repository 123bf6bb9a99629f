/** Registers the two TPNS endpoints: authenticate on the raw body, parse, then hand to the operation. */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../model/types.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import { answerPosition, readContext } from '../position.ts';
import { rawBody, type TenantOptions, tenantOf } from '../tenant.ts';
import { batchoperate } from './batchoperate.ts';
import { parseJsonObject } from './parse-body.ts';
import { query } from './query.ts';
import { BatchoperateRequest, BatchoperateResponse, errorResponses, QueryRequest, QueryResponse } from './schemas.ts';

export const TPNS_PATHS = ['/v3/device/account/batchoperate', '/v3/device/account/query'] as const;
export const REVISION_HEADER = 'x-bindery-revision';

export interface TpnsRouteOptions extends TenantOptions {
  maxTokenBytes: number;
}

const idempotencyOf = (request: FastifyRequest) =>
  idempotencyKeyOf(request, () => createHash('sha256').update(rawBody(request)).digest('hex'));

/** The body is documented here but checked by the domain, which answers per element with TPNS codes. */
export const documentOnly = () => (data: unknown) => ({ value: data });

export async function tpnsRoutes(app: FastifyInstance, options: TpnsRouteOptions): Promise<void> {
  const { store, maxTokenBytes } = options;

  /** Authentication comes first and reads the raw bytes (SPEC §2.3); only then is the body parsed. */
  async function admit(request: FastifyRequest): Promise<{ tenant: App; body: Record<string, unknown> }> {
    const tenant = await tenantOf(request, options);
    return { tenant, body: parseJsonObject(rawBody(request)) };
  }

  app.post(
    TPNS_PATHS[0],
    {
      validatorCompiler: documentOnly,
      schema: {
        tags: ['TPNS'],
        summary: 'Bind and unbind tokens and accounts (operator_type 1..5)',
        description:
          'Every valid element is applied in one durable transaction. Send `Idempotency-Key` to make a retry safe. ' +
          'With read replicas the answer carries `x-bindery-lsn`, the commit position: send it back on reads.',
        body: BatchoperateRequest,
        response: { 200: BatchoperateResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { tenant, body } = await admit(request);
      const answer = await batchoperate(store, tenant, body, maxTokenBytes, {
        requestId: request.id,
        idempotency: idempotencyOf(request),
        deadline: request.deadline,
      });
      // The app's write revision: batches of one app were applied in the order of their revisions.
      if (answer.revision !== undefined) reply.header(REVISION_HEADER, String(answer.revision));
      answerPosition(reply, store, tenant.id);
      if (answer.replayed) reply.header('idempotent-replayed', 'true');
      return answer.body;
    },
  );

  app.post(
    TPNS_PATHS[1],
    {
      validatorCompiler: documentOnly,
      schema: {
        tags: ['TPNS'],
        summary: 'Tokens of accounts (operator_type 1) or accounts of tokens (operator_type 2)',
        description:
          'With read replicas, send `x-bindery-lsn` as a write answered it: a replica serves the query only once ' +
          'it has that write.',
        body: QueryRequest,
        response: { 200: QueryResponse, ...errorResponses },
      },
    },
    async (request) => {
      const { tenant, body } = await admit(request);
      return query(store, tenant, body, maxTokenBytes, readContext(request));
    },
  );
}
