/**
 * One group of batches in one PostgreSQL transaction: lock the apps (in id order, so two groups
 * never deadlock), run the rules for each batch on its app's part of the transaction, and save
 * the apps' clocks and revisions. The caller opened the transaction and commits it.
 */
import type pg from 'pg';
import { AppNotFoundError, IdempotencyMismatchError } from '../../errors.ts';
import type { BatchRequest, WriteRules } from '../batch-transaction.ts';
import type { GroupResult } from '../group-commit.ts';
import type { BatchResult } from '../store.ts';
import { type AppLock, PostgresBatchTransaction } from './postgres-batch-transaction.ts';
import { SQL } from './postgres-queries.ts';

export interface BatchItem extends BatchRequest {
  /** The rules that run the batch. */
  rules: WriteRules;
  /** Unix ms by which the batch is answered, applied or not. */
  deadline: number;
}

export async function runGroup(client: pg.PoolClient, items: BatchItem[]): Promise<GroupResult<BatchResult>[]> {
  const appIds = [...new Set(items.map((i) => i.appId))].sort((a, b) => a - b);
  const { rows } = await client.query<AppLock>(SQL.appsLock, [appIds]);
  const apps = new Map(rows.map((row) => [row.id, { ...row }]));
  const results: GroupResult<BatchResult>[] = [];
  for (const item of items) {
    const tx = new PostgresBatchTransaction(client, item.appId, apps.get(item.appId));
    try {
      results.push({ ok: true, value: await item.rules.runBatch(tx, item.command, item.idempotency) });
    } catch (error) {
      // Refused before anything was written, so the transaction stays usable for the others.
      if (!(error instanceof IdempotencyMismatchError || error instanceof AppNotFoundError)) throw error;
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
