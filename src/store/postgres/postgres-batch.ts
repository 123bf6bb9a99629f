/**
 * One group of batches in one PostgreSQL transaction: lock the apps (in id order), then per batch:
 * Idempotency-Key check, load what it touches, apply the rules, write the net change, its history
 * and its webhook events, and remember the answer under the key.
 */
import type pg from 'pg';
import { applyBatch } from '../../domain/apply-batch.ts';
import { BindingSet, keysToLoad, netChanges } from '../../domain/binding-set.ts';
import { historyRecords, webhookEvents } from '../../domain/change-records.ts';
import type { BatchCommand, Binding } from '../../domain/types.ts';
import { AppNotFoundError } from '../../errors.ts';
import type { GroupResult } from '../group-commit.ts';
import { type BindingRow, policyOf, rowToBinding } from '../rows.ts';
import { type BatchResult, IDEMPOTENCY_WINDOW_MS, type IdempotencyKey, IdempotencyMismatchError } from '../store.ts';
import { SQL } from './postgres-queries.ts';

export interface BatchItem {
  appId: number;
  command: BatchCommand;
  idempotency?: IdempotencyKey;
  /** Unix ms by which the batch is answered, applied or not. */
  deadline: number;
}

interface LockedApp {
  id: number;
  revision: number;
  last_bound_at: number;
  max_tokens_per_account: number;
  max_accounts_per_token: number;
  binding_rules: string;
  webhook_url: string | null;
}

export function upsertParams(appId: number, bindings: Binding[]): unknown[] {
  return [
    appId,
    bindings.map((b) => b.token),
    bindings.map((b) => b.account),
    bindings.map((b) => b.accountType),
    bindings.map((b) => b.platform),
    bindings.map((b) => b.boundAt),
  ];
}

async function applyOne(client: pg.PoolClient, item: BatchItem, app: LockedApp, now: number): Promise<BatchResult> {
  const { appId, command, idempotency } = item;
  if (idempotency) {
    const { rows } = await client.query<{ body_hash: string; result: string; created_at: number }>(SQL.idempotencyGet, [
      appId,
      idempotency.key,
    ]);
    const seen = rows[0];
    if (seen && seen.created_at > now - IDEMPOTENCY_WINDOW_MS) {
      if (seen.body_hash !== idempotency.bodyHash) throw new IdempotencyMismatchError(idempotency.key);
      return { ...(JSON.parse(seen.result) as BatchResult), replayed: true };
    }
  }
  const { tokens, accounts } = keysToLoad(command);
  const loaded = await client.query<BindingRow>(SQL.bindingsForBatch, [
    appId,
    tokens,
    accounts.map((a) => a.account),
    accounts.map((a) => a.accountType),
  ]);
  const set = new BindingSet(loaded.rows.map(rowToBinding));
  const clock = () => (app.last_bound_at = Math.max(Date.now() * 1000, app.last_bound_at + 1));
  const { outcomes, changes } = applyBatch(set, command, policyOf(app), clock);
  const { upserts, deletes } = netChanges(set, changes);
  if (deletes.length > 0) {
    await client.query(SQL.bindingsDelete, [
      appId,
      deletes.map((b) => b.token),
      deletes.map((b) => b.account),
      deletes.map((b) => b.accountType),
    ]);
  }
  if (upserts.length > 0) await client.query(SQL.bindingsUpsert, upsertParams(appId, upserts));
  const history = historyRecords(changes, command, now);
  if (history.length > 0) {
    const column = <K extends keyof (typeof history)[number]>(key: K) => history.map((h) => h[key]);
    await client.query(SQL.historyInsert, [
      appId,
      now,
      column('operatorType'),
      column('cause'),
      column('token'),
      column('account'),
      column('accountType'),
      column('platform'),
      column('opType'),
      column('opId'),
      column('requestId'),
    ]);
  }
  if (app.webhook_url !== null) {
    const events = webhookEvents(changes, command);
    if (events.length > 0)
      await client.query(SQL.outboxInsert, [appId, events.map((e) => e.type), events.map((e) => e.payload), now]);
  }
  app.revision += 1;
  const result: BatchResult = { outcomes, revision: app.revision };
  if (idempotency)
    await client.query(SQL.idempotencyPut, [appId, idempotency.key, idempotency.bodyHash, JSON.stringify(result), now]);
  return result;
}

/** Runs inside a transaction the caller opened and commits. */
export async function applyGroup(client: pg.PoolClient, items: BatchItem[]): Promise<GroupResult<BatchResult>[]> {
  const now = Date.now();
  const appIds = [...new Set(items.map((i) => i.appId))].sort((a, b) => a - b);
  const { rows } = await client.query<LockedApp>(SQL.appsLock, [appIds]);
  const apps = new Map(rows.map((row) => [row.id, { ...row }]));
  const results: GroupResult<BatchResult>[] = [];
  for (const item of items) {
    const app = apps.get(item.appId);
    if (!app) {
      results.push({ ok: false, error: new AppNotFoundError(String(item.appId)) });
      continue;
    }
    try {
      results.push({ ok: true, value: await applyOne(client, item, app, now) });
    } catch (error) {
      // Decided before anything was written, so the transaction stays usable for the others.
      if (!(error instanceof IdempotencyMismatchError)) throw error;
      results.push({ ok: false, error });
    }
  }
  const touched = [...apps.values()];
  await client.query(SQL.appsSaveClock, [
    touched.map((a) => a.id),
    touched.map((a) => a.revision),
    touched.map((a) => a.last_bound_at),
  ]);
  return results;
}
