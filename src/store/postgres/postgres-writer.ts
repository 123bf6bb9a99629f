/**
 * The PostgreSQL store's writes: batches by group commit, with several groups in flight (each group
 * is one transaction: postgres-group-run.ts), and the writes that are not batches (apps, webhook
 * deliveries, the sweep, imports), each in a transaction of its own.
 */
import type pg from 'pg';
import type { BatchResult } from '../../model/batch-transaction.ts';
import { AppExistsError, AppNotFoundError, StoreError } from '../../model/errors.ts';
import type { AppPatch, DeliveryOutcome, NewApp, SweepCounts, SweepCutoffs, WebhookEvent } from '../../model/store.ts';
import type { App, Binding } from '../../model/types.ts';
import { GroupCommitQueue, type GroupResult } from '../group-commit.ts';
import {
  type AppRow,
  deliveryParams,
  type OutboxRow,
  outboxCompleteParams,
  patchedAppColumns,
  rowToApp,
  rowToWebhookEvent,
} from '../rows.ts';
import { upsertStatements } from './postgres-batch-writes.ts';
import { type BatchItem, byApp, byKeys, Deferral, type Keyed, keyed, runGroup } from './postgres-group-run.ts';
import { SQL } from './postgres-queries.ts';

/** Attempts with keys before a batch holds its whole app (it then waits its turn, and runs). */
const KEYED_ATTEMPTS = 3;

type Transact = <T>(doing: string, work: (client: pg.PoolClient) => Promise<T>, deadline?: number) => Promise<T>;

/** How the writer reaches the database: the store checks it is open and started, and keeps the deadlines. */
export interface WriterDatabase {
  /** A group of batches: may still run while the store closes (close() waits for it). */
  batches: Transact;
  transaction: Transact;
  query: <R extends pg.QueryResultRow>(
    doing: string,
    sql: string,
    params: unknown[],
    deadline?: number,
  ) => Promise<pg.QueryResult<R>>;
}

/**
 * Groups of one instance committing at once: while one waits for its commit's flush, the next runs
 * its statements (a group holds only the keys it touches). Half the pool, so reads keep the rest,
 * and at most two: fewer, larger groups cost PostgreSQL and bindery less CPU per write, and two
 * measured 1.16× four in interleaved pairs on two cores (BENCHMARKS.md); more instances
 * add groups of their own.
 */
function groupsInFlight(poolSize: number): number {
  return Math.max(1, Math.min(2, Math.floor(poolSize / 2)));
}

/**
 * Batches in group transactions: those that arrive while one commits go together in the next,
 * due by the earliest deadline among them; a group that fails for another reason than the
 * database being away is retried one batch at a time, so that one batch does not fail its
 * neighbours.
 */
export class PostgresWriter {
  /** Transactions committed and batches they carried. */
  readonly stats = { groups: 0, commands: 0, retries: 0, deferred: 0 };
  private readonly queue: GroupCommitQueue<Keyed, BatchResult | Deferral>;

  constructor(
    private readonly db: WriterDatabase,
    /** Runs after each commit, before the batches are answered (the read routing's positions). */
    private readonly afterCommit: (appIds: number[]) => Promise<void>,
    private readonly timeoutMs: number,
    /** The pool's connections: groups committing at once each hold one for their whole transaction. */
    poolSize: number,
  ) {
    this.queue = new GroupCommitQueue(
      (items) => this.commitGroup(items),
      512,
      {
        groups: groupsInFlight(poolSize),
        scheduler: byKeys,
      },
      byApp,
    );
  }

  /** Answers the batch once a group has run it: a deferred one goes again, waiting for what it found taken. */
  async submit(item: BatchItem): Promise<BatchResult> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.queue.submit(keyed(item));
      if (!(outcome instanceof Deferral)) return outcome;
      this.stats.deferred++;
      item = { ...item, waitFor: [...new Set([...(item.waitFor ?? []), ...outcome.keys])] };
      if (attempt >= KEYED_ATTEMPTS) item.exclusive = true;
    }
  }

  /** Resolves once every submitted batch has been answered. */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  async createApp(app: NewApp): Promise<App> {
    const { rows } = await this.db.query<AppRow>('create app', SQL.appInsert, [
      app.accessId,
      app.name,
      app.secretKey,
      app.policy.maxTokensPerAccount,
      app.policy.maxAccountsPerToken,
      app.policy.bindingRules,
      app.policy.quarantineDays,
      app.policy.tokenTtlDays,
      app.policy.expiryWarningDays,
      Date.now(),
    ]);
    if (!rows[0]) throw new AppExistsError(app.accessId);
    return rowToApp(rows[0]);
  }

  async updateApp(accessId: string, patch: AppPatch): Promise<App | undefined> {
    return this.db.transaction('update app', async (client) => {
      await client.query(SQL.appLockExclusive, [accessId]);
      const { rows } = await client.query<AppRow>(SQL.appForUpdate, [accessId]);
      if (!rows[0]) return undefined;
      // Events queued for a webhook that is turned off have nowhere to go.
      if (patch.webhook === null) await client.query(SQL.outboxDropPending, [accessId]);
      const c = patchedAppColumns(rowToApp(rows[0]), patch);
      const updated = await client.query<AppRow>(SQL.appUpdate, [
        accessId,
        c.name,
        c.secretKey,
        c.previousSecretKey,
        c.previousSecretExpiresAt,
        c.maxTokensPerAccount,
        c.maxAccountsPerToken,
        c.webhookUrl,
        c.webhookSecret,
        c.rateLimitPerSecond,
        c.rateLimitBurst,
        c.bindingRules,
        c.quarantineDays,
        c.tokenTtlDays,
        c.expiryWarningDays,
      ]);
      return updated.rows[0] && rowToApp(updated.rows[0]);
    });
  }

  async deleteApp(accessId: string): Promise<boolean> {
    return this.db.transaction('delete app', async (client) => {
      await client.query(SQL.appLockExclusive, [accessId]);
      const { rows } = await client.query<{ id: number }>(SQL.appDelete, [accessId]);
      if (!rows[0]) return false;
      for (const sql of SQL.appDataDelete) await client.query(sql, [rows[0].id]);
      return true;
    });
  }

  async claimWebhookEvents(now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]> {
    const { rows } = await this.db.query<OutboxRow>('claim webhook events', SQL.outboxClaim, [
      now,
      now + leaseMs,
      limit,
    ]);
    return rows.map(rowToWebhookEvent).sort((a, b) => a.id - b.id);
  }

  async completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): Promise<void> {
    await this.db.transaction('record webhook delivery', async (client) => {
      await client.query(SQL.deliveryInsert, deliveryParams(event, outcome));
      await client.query(SQL.outboxComplete, outboxCompleteParams(event, outcome));
    });
  }

  async sweep(cutoffs: SweepCutoffs): Promise<SweepCounts> {
    const total: SweepCounts = { history: 0, idempotency: 0, webhooks: 0 };
    const slice = 5000;
    await this.db.query('sweep', SQL.appsHistoryTrimmed, [cutoffs.historyBefore]);
    const run = async (sql: string, before: number) =>
      (await this.db.query('sweep', sql, [before, slice])).rowCount ?? 0;
    for (let more = true; more; ) {
      const history = await run(SQL.sweepHistory, cutoffs.historyBefore);
      const idempotency = await run(SQL.sweepIdempotency, cutoffs.idempotencyBefore);
      const webhooks =
        (await run(SQL.sweepOutbox, cutoffs.webhooksBefore)) + (await run(SQL.sweepDeliveries, cutoffs.webhooksBefore));
      total.history += history;
      total.idempotency += idempotency;
      total.webhooks += webhooks;
      more = history === slice || idempotency === slice || webhooks >= slice;
    }
    return total;
  }

  async importBindings(appId: number, bindings: Binding[], slots: boolean): Promise<number> {
    let latest = 0;
    for (const b of bindings) if (b.boundAt > latest) latest = b.boundAt;
    let replaced = 0;
    // A bulk batch does much more than a request's statement: it gets a longer deadline.
    await this.db.transaction(
      'import bindings',
      async (client) => {
        if (slots) {
          const { rowCount } = await client.query(SQL.bindingsOfSlotOthersDelete, [
            appId,
            bindings.map((b) => b.token),
            bindings.map((b) => b.account),
            bindings.map((b) => b.accountType),
          ]);
          replaced = rowCount ?? 0;
        }
        for (const [sql, params] of upsertStatements(appId, lastOfEachKey(bindings))) await client.query(sql, params);
        // The app's clock is raised last (later binds sort after everything imported): two import
        // transactions of one app write their rows side by side and queue only for their commits.
        const { rows } = await client.query(SQL.appRaiseClock, [appId, latest]);
        if (!rows[0]) throw new AppNotFoundError(String(appId));
        // An import writes no history: a rewind can go back no further than now.
        await client.query(SQL.appHistoryFrom, [Date.now(), appId]);
      },
      Date.now() + Math.max(30_000, this.timeoutMs),
    );
    await this.afterCommit([appId]);
    return replaced;
  }

  /**
   * One transaction for the group, due by the earliest deadline in it; a batch whose deadline has
   * already passed (it waited behind a group that ran out of time) is answered unavailable unrun.
   */
  private async commitGroup(items: Keyed[]): Promise<GroupResult<BatchResult | Deferral>[]> {
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
      const results = await this.db.batches('apply batches', (client) => runGroup(client, items), deadline);
      await this.afterCommit(items.map((item) => item.appId));
      this.stats.groups++;
      this.stats.commands += items.length;
      return results;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      // One command must not fail its neighbours: unless the database is away, retry each alone.
      if (items.length > 1 && !(failure instanceof StoreError && failure.unavailable)) {
        const alone: GroupResult<BatchResult | Deferral>[] = [];
        for (const item of items)
          alone.push(...(await this.commitGroup([item]).catch((e: Error) => [{ ok: false as const, error: e }])));
        return alone;
      }
      throw failure;
    }
  }
}

/**
 * PostgreSQL refuses to upsert one row twice in a statement; rows apply in order, so a key given
 * twice keeps its last row.
 */
function lastOfEachKey(bindings: Binding[]): Binding[] {
  const byKey = new Map<string, Binding>();
  for (const b of bindings) byKey.set(`${b.token}\u0000${b.accountType}\u0000${b.account}`, b);
  return byKey.size === bindings.length ? bindings : [...byKey.values()];
}
