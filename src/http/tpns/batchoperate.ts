/** POST /v3/device/account/batchoperate (SPEC §2.4). */

import type { ElementOutcome } from '../../domain/apply-batch.ts';
import { writeBatch } from '../../domain/run-batch.ts';
import type { App } from '../../domain/types.ts';
import { validateBatch } from '../../domain/validate-request.ts';
import { RetCode, StoreError } from '../../errors.ts';
import type { BindingStore, IdempotencyKey } from '../../store/store.ts';
import { type BatchoperateResponse, status } from './schemas.ts';

/** How many element failures err_msg spells out before summarising. */
const MESSAGES_SHOWN = 3;

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
  const result: string[] = [];
  const failures: string[] = [];
  slots.forEach((slot, i) => {
    if (!slot.ok) {
      result.push(String(slot.failure.code));
      failures.push(slot.failure.message);
      return;
    }
    const outcome = applied[next++];
    if (!outcome) throw new StoreError('the store answered fewer outcomes than elements');
    result.push(String(outcome.code));
    if (outcome.code !== 0) {
      failures.push(`${listName}[${i}]${outcome.field ? `.${outcome.field}` : ''}: ${outcome.message ?? 'failed'}`);
    }
  });
  if (failures.length === 0) return { body: { ...status(RetCode.OK, 'ok'), result }, revision, replayed };
  const all = failures.length === slots.length;
  const shown = failures.slice(0, MESSAGES_SHOWN).join('; ');
  const more = failures.length > MESSAGES_SHOWN ? `; and ${failures.length - MESSAGES_SHOWN} more` : '';
  const summary = all
    ? `all ${slots.length} elements failed`
    : `${failures.length} of ${slots.length} elements failed, the others were applied`;
  return {
    body: { ...status(all ? RetCode.ALL_FAILED : RetCode.SOME_FAILED, `${summary}: ${shown}${more}`), result },
    revision,
    replayed,
  };
}
