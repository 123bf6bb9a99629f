/** POST /v3/device/account/batchoperate (SPEC §2.4). */

import { writeBatch } from '../../domain/run-batch.ts';
import { validateBatch } from '../../domain/validate-request.ts';
import { StoreError } from '../../errors.ts';
import type { IdempotencyKey } from '../../model/batch-transaction.ts';
import type { ElementOutcome } from '../../model/outcomes.ts';
import type { BindingStore } from '../../model/store.ts';
import type { App } from '../../model/types.ts';
import { type ItemResult, perItemAnswer } from '../per-item.ts';
import type { BatchoperateResponse } from './schemas.ts';

export async function batchoperate(
  store: BindingStore,
  app: App,
  body: Record<string, unknown>,
  maxTokenBytes: number,
  context: { requestId?: string; idempotency?: IdempotencyKey | undefined; deadline?: number } = {},
): Promise<{ body: BatchoperateResponse; revision?: number; replayed?: boolean }> {
  const { command, slots, listName } = validateBatch(body, maxTokenBytes);
  if (context.requestId !== undefined) command.requestId = context.requestId;
  const batch =
    command.elements.length > 0
      ? await writeBatch(store, app.id, command, context.idempotency, context.deadline)
      : undefined;
  const replayed = batch?.replayed;
  const applied: ElementOutcome[] = batch?.outcomes ?? [];
  const revision = batch?.revision;
  let next = 0;
  const items = slots.map((slot, i): ItemResult => {
    if (!slot.ok) return slot.failure;
    const outcome = applied[next++];
    if (!outcome) throw new StoreError('the store answered fewer outcomes than elements');
    const where = `${listName}[${i}]${outcome.field ? `.${outcome.field}` : ''}`;
    return { code: outcome.code, message: `${where}: ${outcome.message ?? 'failed'}` };
  });
  return { body: perItemAnswer(items, 'elements'), revision, replayed };
}
