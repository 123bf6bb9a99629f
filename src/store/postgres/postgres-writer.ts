/**
 * The PostgreSQL store's writes of batches: group commit (PostgresWriter), and one group in one
 * transaction (runGroup): lock the apps (in id order, so two groups never deadlock), run the rules
 * for each batch on its app's part of the transaction, and save the apps' clocks and revisions.
 */
import type pg from 'pg';
import { AppNotFoundError, IdempotencyMismatchError, StoreError } from '../../errors.ts';
import type { BatchRequest, WriteRules } from '../batch-transaction.ts';
import { GroupCommitQueue, type GroupResult } from '../group-commit.ts';
import type { BatchResult } from '../store.ts';
import { type AppLock, BatchWrites, PostgresBatchTransaction } from './postgres-batch-transaction.ts';
import { SQL } from './postgres-queries.ts';

export interface BatchItem extends BatchRequest {
  /** The rules that run the batch. */
  rules: WriteRules;
  /** Unix ms by which the batch is answered, applied or not. */
  deadline: number;
}

type Transact = <T>(doing: string, work: (client: pg.PoolClient) => Promise<T>, deadline: number) => Promise<T>;

/**
 * Batches in group transactions: those that arrive while one commits go together in the next,
 * due by the earliest deadline among them; a group that fails for another reason than the
 * database being away is retried one batch at a time, so that one batch does not fail its
 * neighbours.
 */
export class PostgresWriter {
  /** Transactions committed and batches they carried. */
  readonly stats = { groups: 0, commands: 0, retries: 0 };
  private readonly queue = new GroupCommitQueue<BatchItem, BatchResult>((items) => this.commitGroup(items));

  constructor(
    private readonly transact: Transact,
    /** Runs after each commit, before the batches are answered (the read routing's positions). */
    private readonly afterCommit: (appIds: number[]) => Promise<void>,
    private readonly timeoutMs: number,
  ) {}

  submit(item: BatchItem): Promise<BatchResult> {
    return this.queue.submit(item);
  }

  /** Resolves once every submitted batch has been answered. */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  /**
   * One transaction for the group, due by the earliest deadline in it; a batch whose deadline has
   * already passed (it waited behind a group that ran out of time) is answered unavailable unrun.
   */
  private async commitGroup(items: BatchItem[]): Promise<GroupResult<BatchResult>[]> {
    const now = Date.now();
    const live = items.filter((item) => item.deadline > now);
    if (live.length < items.length) {
      const expired = new StoreError(`PostgreSQL apply batches failed: no answer within ${this.timeoutMs} ms`, true);
      const results =
        live.length > 0
          ? await this.commitGroup(live).catch((e: Error) => live.map(() => ({ ok: false as const, error: e })))
          : [];
      let next = 0;
      return items.map((item) => (item.deadline > now ? results[next++]! : { ok: false as const, error: expired }));
    }
    const deadline = Math.min(...items.map((item) => item.deadline));
    try {
      const results = await this.transact('apply batches', (client) => runGroup(client, items), deadline);
      await this.afterCommit(items.map((item) => item.appId));
      this.stats.groups++;
      this.stats.commands += items.length;
      return results;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      // One command must not fail its neighbours: unless the database is away, retry each alone.
      if (items.length > 1 && !(failure instanceof StoreError && failure.unavailable)) {
        const alone: GroupResult<BatchResult>[] = [];
        for (const item of items)
          alone.push(...(await this.commitGroup([item]).catch((e: Error) => [{ ok: false as const, error: e }])));
        return alone;
      }
      throw failure;
    }
  }
}

/** Runs inside a transaction the caller opened and commits. */
export async function runGroup(client: pg.PoolClient, items: BatchItem[]): Promise<GroupResult<BatchResult>[]> {
  const appIds = [...new Set(items.map((i) => i.appId))].sort((a, b) => a - b);
  const { rows } = await client.query<AppLock>(SQL.appsLock, [appIds]);
  const apps = new Map(rows.map((row) => [row.id, { ...row }]));
  const results: GroupResult<BatchResult>[] = [];
  for (const item of items) {
    const writes = new BatchWrites();
    const tx = new PostgresBatchTransaction(client, item.appId, apps.get(item.appId), writes);
    try {
      const value = await item.rules.runBatch(tx, item.command, item.idempotency);
      await writes.send(client);
      results.push({ ok: true, value });
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
