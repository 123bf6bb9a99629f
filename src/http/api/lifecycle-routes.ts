/**
 * The token lifecycle writes (SPEC §3): providers' feedback, tokens reported seen, a quarantine
 * lifted. Each is validated here item by item, then written as one command on the single write
 * path (domain/run-batch.ts), with the same group commit, Idempotency-Key and answer headers as
 * batchoperate.
 */
import { createHash } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { writeBatch } from '../../domain/run-batch.ts';
import { checkToken, isFailure } from '../../domain/validate-fields.ts';
import { validateFeedback, validateTokens } from '../../domain/validate-lifecycle.ts';
import { apiError, RetCode, StoreError } from '../../errors.ts';
import type { BatchResult } from '../../model/batch-transaction.ts';
import type { ElementOutcome } from '../../model/outcomes.ts';
import type { App, WriteCommand } from '../../model/types.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import type { Metrics } from '../metrics.ts';
import { type ItemResult, perItemAnswer } from '../per-item.ts';
import { answerPosition } from '../position.ts';
import { rawBody, type TenantOptions, tenantOf } from '../tenant.ts';
import { parseJsonObject } from '../tpns/parse-body.ts';
import { documentOnly, REVISION_HEADER } from '../tpns/routes.ts';
import { errorResponses, status } from '../tpns/schemas.ts';
import { valid } from './bindings-view.ts';
import { FeedbackResponse, RestoreResponse, SeenResponse, TokenParams } from './schemas.ts';

export interface LifecycleRouteOptions extends TenantOptions {
  maxTokenBytes: number;
  metrics: Metrics;
}

/** One outcome per command item, in order; fewer means the store broke its promise. */
function outcomesOf(result: BatchResult | undefined, count: number): ElementOutcome[] {
  const outcomes = result?.outcomes ?? [];
  if (outcomes.length !== count) throw new StoreError('the store answered fewer outcomes than items');
  return outcomes;
}

const NO_BINDING = 'no_binding';

/** A failed item's message, for its entry in `outcomes`. */
const failed = (item: ItemResult) => (item.code === RetCode.OK ? {} : { err_msg: item.message ?? 'failed' });

export async function lifecycleRoutes(fastify: FastifyInstance, options: LifecycleRouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, maxTokenBytes, metrics } = options;

  /** Writes the command (if it has items), with the answer headers a write carries. */
  async function write(
    request: FastifyRequest,
    reply: FastifyReply,
    tenant: App,
    command: WriteCommand,
    items: number,
    scope: string,
  ): Promise<BatchResult | undefined> {
    if (items === 0) return undefined;
    // The path is hashed with the body: a restore's token is in its path.
    const hash = () => createHash('sha256').update(request.url).update('\n').update(rawBody(request)).digest('hex');
    const key = idempotencyKeyOf(request, hash, scope);
    const result = await writeBatch(store, tenant.id, command, key, request.deadline);
    reply.header(REVISION_HEADER, String(result.revision));
    answerPosition(reply, store, tenant.id);
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    return result;
  }

  app.post(
    '/api/v1/feedback',
    {
      validatorCompiler: documentOnly,
      schema: {
        tags: ['lifecycle'],
        summary: "Push providers' answers to sends: dead tokens are quarantined",
        description:
          'Up to 1,000 items `{token, provider, reason, status?, at?}` (provider: apns, fcm, hms, expo, webpush; ' +
          "reason: the provider's own words, or status alone; at: when it answered, Unix ms or ISO 8601). " +
          'Each is classified (README, "Token lifecycle"): invalid quarantines the token, transient is counted, ' +
          'unknown is refused. A token bound again after `at` stays active. Idempotency-Key makes a retry safe.',
        response: { 200: FeedbackResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const tenant = await tenantOf(request, options);
      const { reports, slots } = validateFeedback(parseJsonObject(rawBody(request)), maxTokenBytes, Date.now());
      for (const slot of slots) if (slot.provider) metrics.feedback.inc({ provider: slot.provider, class: slot.class });
      const command: WriteCommand = { kind: 'feedback', reports, requestId: request.id };
      const outcomes = outcomesOf(
        await write(request, reply, tenant, command, reports.length, 'feedback:'),
        reports.length,
      );
      const shown = slots.map((slot, i) => {
        if (!slot.ok) return { item: slot.failure, class: slot.class ?? null, action: 'refused' as const };
        if (slot.report === undefined)
          return { item: { code: RetCode.OK }, class: slot.class, action: 'counted' as const };
        const outcome = outcomes[slot.report]!;
        const item: ItemResult = { code: outcome.code, message: `items[${i}].token: ${outcome.message}` };
        return { item, class: slot.class, action: outcome.action ?? NO_BINDING };
      });
      return {
        ...perItemAnswer(
          shown.map((s) => s.item),
          'items',
        ),
        outcomes: shown.map((s) => ({ class: s.class, action: s.action, ...failed(s.item) })),
      };
    },
  );

  app.post(
    '/api/v1/tokens/seen',
    {
      validatorCompiler: documentOnly,
      schema: {
        tags: ['lifecycle'],
        summary: 'Tokens the app reports active: their last_seen_at becomes now',
        description:
          'Up to 1,000 tokens `{"tokens": [...]}`; no history entry per touch. A quarantined token is not refreshed. ' +
          "With the app's token_ttl_days, tokens not seen for that long are quarantined by the sweeper.",
        response: { 200: SeenResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const tenant = await tenantOf(request, options);
      const checked = validateTokens(parseJsonObject(rawBody(request)), maxTokenBytes);
      const tokens = checked.filter((t): t is string => !isFailure(t));
      const command: WriteCommand = { kind: 'seen', tokens, requestId: request.id };
      const outcomes = outcomesOf(await write(request, reply, tenant, command, tokens.length, 'seen:'), tokens.length);
      let next = 0;
      const shown = checked.map((token, i) => {
        if (isFailure(token)) return { item: token, action: 'refused' as const };
        const outcome = outcomes[next++]!;
        const item: ItemResult = { code: outcome.code, message: `tokens[${i}]: ${outcome.message}` };
        return {
          item,
          action: outcome.action === 'seen' || outcome.action === 'already_quarantined' ? outcome.action : NO_BINDING,
        };
      });
      return {
        ...perItemAnswer(
          shown.map((s) => s.item),
          'tokens',
        ),
        outcomes: shown.map((s) => ({ action: s.action, ...failed(s.item) })),
      };
    },
  );

  app.post(
    '/api/v1/tokens/:token/restore',
    {
      validatorCompiler: documentOnly,
      schema: {
        tags: ['lifecycle'],
        summary: "Lift a token's quarantine: it is answered in queries again, seen now",
        params: TokenParams,
        response: { 200: RestoreResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const tenant = await tenantOf(request, options);
      const token = valid(checkToken((request.params as { token: string }).token, 'token', maxTokenBytes));
      const command: WriteCommand = { kind: 'restore', tokens: [token], requestId: request.id };
      const [outcome] = outcomesOf(await write(request, reply, tenant, command, 1, 'restore:'), 1);
      if (outcome!.code !== RetCode.OK) throw apiError.noBinding(`token: ${outcome!.message ?? 'has no bindings'}`);
      return { ...status(RetCode.OK, 'ok'), token, action: outcome!.action === 'restored' ? 'restored' : 'active' };
    },
  );
}
