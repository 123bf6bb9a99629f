/**
 * A batchoperate, from the locked app to the remembered answer: the nine steps of every write of
 * bindings, once for every backend. The store lends the transaction (a BatchTransaction) and runs
 * this inside it; a throw before anything is written leaves the transaction usable for the
 * store's other batches, a throw after it makes the store roll this batch back.
 */

import type { BatchTransaction, WriteRulesModule, WriteScope } from '../model/batch-transaction.ts';
import { type BatchResult, IDEMPOTENCY_WINDOW_MS, type IdempotencyKey } from '../model/batch-transaction.ts';
import { BindingSet } from '../model/binding-set.ts';
import { AppNotFoundError, IdempotencyMismatchError, RewindRefusedError } from '../model/errors.ts';
import type { BatchOutcome, ElementOutcome } from '../model/outcomes.ts';
import type { BindingStore } from '../model/store.ts';
import type { AppPolicy, Change, RewindCommand, SeenCommand, SweepCommand, WriteCommand } from '../model/types.ts';
import { applyBatch } from './apply-batch.ts';
import { applyFeedback, applyRestore, applySweep, lifecycleCutoffs, seenOutcomes } from './apply-lifecycle.ts';
import { applyRewind, REWIND_MAX_ENTRIES, rewindTokens } from './apply-rewind.ts';
import { keysToLoad, netChanges } from './batch-footprint.ts';
import { historyRecords, webhookEvents } from './change-records.ts';

/** A sweep's tokens: those due a purge (found by the store's index), and those the sweeper's scan named. */
async function sweepTokens(tx: BatchTransaction, command: SweepCommand, policy: AppPolicy): Promise<string[]> {
  const purge =
    command.purgeLimit > 0
      ? await tx.dueToPurge(lifecycleCutoffs(policy, command.now).purgeBefore, command.purgeLimit)
      : [];
  return [...new Set([...purge, ...command.tokens])];
}

/**
 * The history a rewind undoes, oldest first; refused when it cannot tell the state at the time:
 * entries before it trimmed (retention) or never written (an import, which writes none, since it).
 */
async function rewindHistory(tx: BatchTransaction, command: RewindCommand, historyFrom: number | null) {
  const at = new Date(command.to).toISOString();
  if (historyFrom === null)
    throw new RewindRefusedError(
      'this app was created by an older release, which did not record what a rewind needs: nothing to rewind from',
    );
  if (command.to < historyFrom)
    throw new RewindRefusedError(
      `the history cannot answer for ${at}: it holds every change only since ${new Date(historyFrom).toISOString()} ` +
        '(older entries were trimmed by BINDERY_HISTORY_RETENTION_DAYS, or an import, which writes no history, ' +
        'came after); rewind to a later time',
    );
  const rows = await tx.historyAfter(command.to, REWIND_MAX_ENTRIES + 1);
  if (rows.length > REWIND_MAX_ENTRIES)
    throw new RewindRefusedError(
      `more than ${REWIND_MAX_ENTRIES} changes were made since ${at}: too many for one write; rewind to a later time`,
    );
  return rows;
}

/** This module, for a store to load where its transaction lives (SQLite: on its writer thread). */
export const WRITE_RULES: WriteRulesModule = import.meta.url;

/**
 * Applies a write: a batchoperate, or a token lifecycle write (feedback, seen, restore, a sweep),
 * the same way. A batchoperate: every element in ONE durable transaction, in order, with the app's
 * policy as committed then (caps and eviction, SPEC §2.5). Outcomes are one per element; the
 * revision orders the batch among all of the app's batches. The same transaction writes a history
 * entry per change and, if the app has a webhook, its events. An Idempotency-Key seen in the last
 * 24 h with the same body answers the stored result (replayed, nothing applied); with another
 * body it rejects with IdempotencyMismatchError. Rejects with AppNotFoundError when the app no
 * longer exists. The store lends the transaction; runBatch below runs it.
 */
export function writeBatch(
  store: BindingStore,
  appId: number,
  command: WriteCommand,
  idempotency?: IdempotencyKey,
  deadline?: number,
): Promise<BatchResult> {
  return store.runBatch(WRITE_RULES, { appId, command, ...(idempotency ? { idempotency } : {}) }, deadline);
}

/** The rules of the command, on the set of bindings it can touch. `tokens`: a sweep's due tokens. */
function applyCommand(
  set: BindingSet,
  command: Exclude<WriteCommand, SeenCommand | RewindCommand>,
  policy: AppPolicy,
  clock: () => number,
  now: number,
  tokens: string[],
): BatchOutcome {
  switch (command.kind) {
    case 'feedback':
      return applyFeedback(set, command, now);
    case 'restore':
      return applyRestore(set, command, now);
    case 'sweep':
      return applySweep(set, command, policy, tokens);
    default:
      return applyBatch(set, command, policy, clock, now);
  }
}

/** What the command can touch (WriteScope): the keys it loads, or the whole app for a sweep or a seen. */
export function scopeOf(command: WriteCommand): WriteScope {
  return command.kind === 'sweep' || command.kind === 'seen' || command.kind === 'rewind' ? 'app' : keysToLoad(command);
}

export async function runBatch(
  tx: BatchTransaction,
  command: WriteCommand,
  idempotency?: IdempotencyKey,
): Promise<BatchResult> {
  const now = Date.now();
  // 1. The app and its policy, as committed now; neither it nor what this batch touches changes until it commits.
  const app = await tx.lockApp();
  if (!app) throw new AppNotFoundError(String(tx.appId));
  // 2. A key seen in the window answers what it answered then, and applies nothing.
  if (idempotency) {
    const seen = await tx.recallAnswer(idempotency.key);
    if (seen && seen.createdAt > now - IDEMPOTENCY_WINDOW_MS) {
      if (seen.bodyHash !== idempotency.bodyHash) throw new IdempotencyMismatchError(idempotency.key);
      return { ...(JSON.parse(seen.result) as BatchResult), replayed: true };
    }
  }
  // 3-6. Seen is a touch, not a change: the store moves last_seen_at in place (nothing read, no
  // history, no event). Every other write: everything it can touch (eviction included, SPEC §2.5;
  // for a sweep, the tokens due), the rules on that set, and the net change written.
  let outcomes: ElementOutcome[];
  let changes: Change[] = [];
  let rewound: BatchResult['rewind'];
  if (command.kind === 'seen') outcomes = seenOutcomes(await tx.touchTokens(command.tokens, now));
  else if (command.kind === 'rewind') {
    const rows = await rewindHistory(tx, command, app.historyFrom);
    const tokens = rewindTokens(rows);
    const set = new BindingSet(tokens.length > 0 ? await tx.loadBindings(tokens, []) : []);
    ({ outcomes, changes } = applyRewind(set, rows, () => tx.nextBoundAt()));
    const bind = changes.filter((c) => c.kind === 'put').length;
    const rewind = { bind, unbind: changes.length - bind, dryRun: command.dryRun };
    if (command.dryRun) return { outcomes, revision: 0, rewind };
    const { upserts, deletes } = netChanges(set, changes);
    if (upserts.length > 0 || deletes.length > 0) await tx.writeBindings(upserts, deletes);
    rewound = rewind;
  } else {
    const { tokens, accounts } =
      command.kind === 'sweep'
        ? { tokens: await sweepTokens(tx, command, app.policy), accounts: [] }
        : keysToLoad(command);
    const set = new BindingSet(tokens.length + accounts.length > 0 ? await tx.loadBindings(tokens, accounts) : []);
    ({ outcomes, changes } = applyCommand(set, command, app.policy, () => tx.nextBoundAt(), now, tokens));
    const { upserts, deletes } = netChanges(set, changes);
    if (upserts.length > 0 || deletes.length > 0) await tx.writeBindings(upserts, deletes);
  }
  // 7. A history entry per change.
  const history = historyRecords(changes, command, now);
  if (history.length > 0) await tx.appendHistory(history);
  // 8. Webhook events, in the same transaction as the change they report.
  if (app.hasWebhook) {
    const events = webhookEvents(changes, command, app.policy);
    if (events.length > 0) await tx.appendEvents(events, now);
  }
  // 9. The revision that orders this batch, and the answer under its key. A sweep that found
  // nothing to do takes none: the app's clients see their own writes numbered without gaps.
  const idle = command.kind === 'sweep' && changes.length === 0;
  const result: BatchResult = {
    outcomes,
    revision: idle ? 0 : await tx.nextRevision(),
    ...(rewound ? { rewind: rewound } : {}),
  };
  if (idempotency) await tx.rememberAnswer(idempotency, result, now);
  return result;
}
