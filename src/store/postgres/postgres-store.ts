/**
 * The PostgreSQL store, for several stateless instances on one database. Writes of one instance
 * are grouped into transactions (group commit), several in flight; each holds only the tokens and
 * accounts its batches touch (postgres-locks.ts), so writes of one app run side by side across
 * instances where they touch different keys, and are serialized where they share one.
 * Retryable conflicts are retried here, bounded and with jitter; an unreachable database fails
 * fast (within the store timeout) as unavailable.
 */
import type pg from 'pg';
import type { BatchResult, IdempotencyKey } from '../../model/batch-transaction.ts';
import {
  type BatchRequest,
  IDEMPOTENCY_WINDOW_MS,
  loadWriteRules,
  type WriteRulesModule,
} from '../../model/batch-transaction.ts';
import { AppExistsError, AppNotFoundError, StoreError } from '../../model/errors.ts';
import type {
  AccountOfToken,
  AppCounts,
  AppPatch,
  BindingStore,
  BindingsOf,
  DeliveryOutcome,
  HistoryEntry,
  HistoryFilter,
  NewApp,
  ReplicaStats,
  SweepCounts,
  SweepCutoffs,
  TokenOfAccount,
  WebhookBacklog,
  WebhookDelivery,
  WebhookEvent,
} from '../../model/store.ts';
import type { AccountKey, App, Binding } from '../../model/types.ts';
import { AppCache } from '../app-cache.ts';
import { walkHistorySlices } from '../history-slices.ts';
import {
  type AppRow,
  type BindingRow,
  type DeliveryRow,
  type HistoryRow,
  type OutboxRow,
  patchedAppColumns,
  rowToApp,
  rowToBinding,
  rowToDelivery,
  rowToHistory,
  rowToWebhookEvent,
} from '../rows.ts';
import { upsertStatements } from './postgres-batch-writes.ts';
import {
  DedicatedClient,
  PostgresConnection,
  type PostgresConnectionOptions,
  toStoreError,
} from './postgres-connection.ts';
import { SQL } from './postgres-queries.ts';
import { PostgresReads } from './postgres-reads.ts';
import { migratePostgres } from './postgres-schema.ts';
import { PostgresWriter } from './postgres-writer.ts';

export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /**
   * true (the CLI): open() fails when the database cannot be reached. false (the server): open()
   * returns at once, every call answers unavailable, and the store connects and migrates in the
   * background with backoff until the database answers.
   */
  waitForDatabase?: boolean;
  /** Read replicas of the database: reads go to them, writes never (see postgres-replicas.ts). */
  readUrls?: string[];
  /** How long a read may wait for a replica to replay what it must see, before the primary serves it. */
  replicaWaitMs?: number;
  /** A replica further behind than this serves nothing. */
  replicaMaxLagMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Where a keyset page of an export starts: strictly after this key (the first page: after every key). */
type BindingKey = AccountKey & { token: string };
const FIRST_BINDING_KEY: BindingKey = { token: '', account: '', accountType: -1 };

/** Backoff between attempts to reach a database that was away at start. */
const CONNECT_BACKOFF_MS = { first: 250, max: 10_000 };

/**
 * PostgreSQL refuses to upsert one row twice in a statement; rows apply in order, so a key given
 * twice keeps its last row.
 */
function lastOfEachKey(bindings: Binding[]): Binding[] {
  const byKey = new Map<string, Binding>();
  for (const b of bindings) byKey.set(`${b.token}\u0000${b.accountType}\u0000${b.account}`, b);
  return byKey.size === bindings.length ? bindings : [...byKey.values()];
}

/**
 * Groups of one instance committing at once: while one waits for its commit's flush, the next runs
 * its statements (a group holds only the keys it touches). Half the pool, so reads keep the rest,
 * and at most two: fewer, larger groups cost PostgreSQL and bindery less CPU per write, and two
 * measured 1.16× four in interleaved pairs on two cores (BENCHMARKS.md, 2026-12-05); more instances
 * add groups of their own.
 */
function groupsInFlight(poolSize: number): number {
  return Math.max(1, Math.min(2, Math.floor(poolSize / 2)));
}

export class PostgresStore implements BindingStore {
  /** Two import transactions side by side: measured ~75k -> ~100k lines/s on 2 cores. */
  readonly importConcurrency = 2;
  readonly kind = 'postgres' as const;
  /** Batches, grouped into transactions (group commit). */
  private readonly writer: PostgresWriter;
  private closing: Promise<void> | null = null;
  private readonly apps = new AppCache();
  /** Transactions committed and batches they carried: batches/groups is the group-commit factor. */
  get writeStats(): PostgresWriter['stats'] {
    return this.writer.stats;
  }
  /** Where reads go: the primary, or a replica that has what they must see. */
  private readonly reads: PostgresReads;

  /** Set while the database has not been reached and migrated yet (start with the database away). */
  private notStarted: StoreError | null = null;
  private started: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: PostgresConnection,
    private readonly options: PostgresStoreOptions,
  ) {
    this.writer = new PostgresWriter(
      (doing, work, deadline) => this.transaction(doing, work, deadline, true),
      (appIds) => this.reads.recordPositions(appIds),
      options.timeoutMs,
      groupsInFlight(options.poolSize),
    );
    this.reads = new PostgresReads(db, options.readUrls ?? [], {
      ...options,
      waitMs: options.replicaWaitMs ?? 100,
      maxLagMs: options.replicaMaxLagMs ?? 5000,
    });
  }

  /**
   * Connects and migrates (under an advisory lock). With `waitForDatabase: false`, a database that
   * cannot be reached does not fail the open: the store answers unavailable and keeps trying in
   * the background. Anything else (a wrong password, a newer schema) fails at once.
   */
  static async open(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(new PostgresConnection(url, options), options);
    try {
      await store.migrate();
    } catch (error) {
      const failure = toStoreError(error, 'open');
      if (options.waitForDatabase === false && failure.unavailable) {
        store.startInBackground(failure);
        void store.reads.start();
        return store;
      }
      await store.db.close().catch(() => undefined);
      await store.reads.close();
      throw new StoreError(`cannot open the PostgreSQL database: ${failure.message}`, failure.unavailable, {
        cause: error,
      });
    }
    await store.reads.start();
    return store;
  }

  /** Whether the database at `url` has bindery's schema (any version), without changing anything. */
  static async hasSchema(url: string, timeoutMs: number): Promise<boolean> {
    const client = await DedicatedClient.open(url, 'look for the schema', timeoutMs, () => undefined);
    try {
      const [row] = await client.query<{ found: boolean }>(SQL.schemaExists);
      return row?.found === true;
    } finally {
      await client.close();
    }
  }

  /** Resolves once the database has been reached and migrated. */
  whenStarted(): Promise<void> {
    return this.started;
  }

  private startInBackground(first: StoreError): void {
    const log = this.options.log;
    this.notStarted = new StoreError(`PostgreSQL is not reachable yet: ${first.message}`, true, { cause: first });
    log?.warn(`PostgreSQL is not reachable (${first.message}); answering 503 and retrying with backoff until it is`);
    this.started = (async () => {
      let lastProblem = 'unavailable';
      for (let wait = CONNECT_BACKOFF_MS.first; ; wait = Math.min(wait * 2, CONNECT_BACKOFF_MS.max)) {
        await sleep(wait * (0.5 + Math.random()));
        if (this.closing) return;
        try {
          await this.migrate();
          this.notStarted = null;
          log?.info('PostgreSQL is reachable and migrated; serving');
          return;
        } catch (error) {
          const failure = toStoreError(error, 'open');
          this.notStarted = new StoreError(`PostgreSQL is not ready yet: ${failure.message}`, true, { cause: failure });
          // One line per change of problem, not per attempt.
          const problem = failure.unavailable ? 'unavailable' : failure.message;
          if (problem !== lastProblem) log?.warn(`PostgreSQL still cannot be used: ${failure.message}; retrying`);
          lastProblem = problem;
        }
      }
    })();
  }

  /** Applies missing migrations; returns the versions it applied. */
  async migrate(): Promise<number[]> {
    // Migrations may wait for another instance's lock: no request deadline here.
    return this.db.withClient('migrate', Number.MAX_SAFE_INTEGER, (client) => migratePostgres(client));
  }

  async createApp(app: NewApp): Promise<App> {
    this.apps.forget(app.accessId);
    const { rows } = await this.query<AppRow>('create app', SQL.appInsert, [
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

  async findApp(accessId: string, deadline?: number): Promise<App | undefined> {
    return this.apps.get(accessId, async () => {
      const { rows } = await this.query<AppRow>('find app', SQL.appByAccessId, [accessId], deadline);
      return rows[0] && rowToApp(rows[0]);
    });
  }

  async listApps(): Promise<App[]> {
    return (await this.query<AppRow>('list apps', SQL.appsAll, [])).rows.map(rowToApp);
  }

  async countBindings(appId: number): Promise<AppCounts> {
    const { rows } = await this.query<AppCounts>('count bindings', SQL.appCounts, [appId]);
    return rows[0] ?? { bindings: 0, tokens: 0, accounts: 0, quarantined: 0 };
  }

  async updateApp(accessId: string, patch: AppPatch): Promise<App | undefined> {
    this.apps.forget(accessId);
    return this.transaction('update app', async (client) => {
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
    this.apps.forget(accessId);
    return this.transaction('delete app', async (client) => {
      await client.query(SQL.appLockExclusive, [accessId]);
      const { rows } = await client.query<{ id: number }>(SQL.appDelete, [accessId]);
      if (!rows[0]) return false;
      for (const sql of SQL.appDataDelete) await client.query(sql, [rows[0].id]);
      return true;
    });
  }

  async runBatch(rules: WriteRulesModule, batch: BatchRequest, deadline = this.db.deadline()): Promise<BatchResult> {
    if (this.closing) throw new StoreError('the store is closing', true);
    if (this.notStarted) throw this.notStarted;
    return this.writer.submit({ ...batch, rules: await loadWriteRules(rules), deadline });
  }

  async recallIdempotent(
    appId: number,
    key: string,
    deadline?: number,
  ): Promise<{ bodyHash: string; result: string } | undefined> {
    const { rows } = await this.query<{ body_hash: string; result: string; created_at: number }>(
      'read idempotency key',
      SQL.idempotencyGet,
      [appId, key],
      deadline,
    );
    const row = rows[0];
    return row && row.created_at > Date.now() - IDEMPOTENCY_WINDOW_MS
      ? { bodyHash: row.body_hash, result: row.result }
      : undefined;
  }

  async rememberIdempotent(appId: number, key: IdempotencyKey, result: string, deadline?: number): Promise<void> {
    await this.query(
      'store idempotency key',
      SQL.idempotencyPut,
      [[appId], [key.key], [key.bodyHash], [result], [Date.now()]],
      deadline,
    );
  }

  async history(
    appId: number,
    filter: HistoryFilter,
    limit: number,
    beforeId = Number.MAX_SAFE_INTEGER,
    deadline?: number,
    after?: string,
  ): Promise<HistoryEntry[]> {
    const read = async <R extends pg.QueryResultRow>(statement: string, params: unknown[]) =>
      (await this.read<R>(appId, after, 'read history', statement, params, deadline)).rows;
    const { token, account } = filter;
    if (token === undefined && account === undefined)
      return (await read<HistoryRow>(SQL.historyAll, [appId, beforeId, limit])).map(rowToHistory);
    const [sql, key] =
      token !== undefined && account !== undefined
        ? [SQL.historyOfBinding, [token, account.account, account.accountType]]
        : token !== undefined
          ? [SQL.historyOfToken, [token]]
          : [SQL.historyOfAccount, [account!.account, account!.accountType]];
    const [ids] = await read<{ first: number | null; last: number | null }>(SQL.historyIds, [appId]);
    const rows = await walkHistorySlices(ids!, beforeId, limit, (top, bottom, want) =>
      read<HistoryRow>(sql, [top, bottom, appId, ...key, beforeId, want]),
    );
    return rows.map(rowToHistory);
  }

  async claimWebhookEvents(now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]> {
    const { rows } = await this.query<OutboxRow>('claim webhook events', SQL.outboxClaim, [now, now + leaseMs, limit]);
    return rows.map(rowToWebhookEvent).sort((a, b) => a.id - b.id);
  }

  async completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): Promise<void> {
    await this.transaction('record webhook delivery', async (client) => {
      await client.query(SQL.deliveryInsert, [
        event.id,
        event.appId,
        outcome.at,
        event.attempts + 1,
        outcome.status,
        outcome.error,
        outcome.durationMs,
      ]);
      const state = typeof outcome.next === 'number' ? 'pending' : outcome.next;
      await client.query(SQL.outboxComplete, [
        state,
        typeof outcome.next === 'number' ? outcome.next : outcome.at,
        event.id,
      ]);
    });
  }

  async webhookDeliveries(appId: number, limit: number): Promise<WebhookDelivery[]> {
    return (await this.query<DeliveryRow>('read webhook deliveries', SQL.deliveriesOfApp, [appId, limit])).rows.map(
      rowToDelivery,
    );
  }

  async webhookBacklog(): Promise<WebhookBacklog> {
    return (await this.query<WebhookBacklog>('read the webhook backlog', SQL.outboxBacklog, [])).rows[0]!;
  }

  async sweep(cutoffs: SweepCutoffs): Promise<SweepCounts> {
    const total: SweepCounts = { history: 0, idempotency: 0, webhooks: 0 };
    const slice = 5000;
    const run = async (sql: string, before: number) => (await this.query('sweep', sql, [before, slice])).rowCount ?? 0;
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

  async tokensOfAccounts(
    appId: number,
    accounts: AccountKey[],
    deadline?: number,
    after?: string,
  ): Promise<TokenOfAccount[][]> {
    const [sql, params] =
      accounts.length === 1
        ? [SQL.tokensOfAccount, [appId, accounts[0]!.account, accounts[0]!.accountType]]
        : [SQL.tokensOfAccounts, [appId, accounts.map((a) => a.account), accounts.map((a) => a.accountType)]];
    const { rows } = await this.read<{
      /** Absent for one account. */
      ord?: number;
      token: string;
      platform: TokenOfAccount['platform'];
      bound_at: number;
    }>(appId, after, 'query tokens', sql, params, deadline);
    const lists: TokenOfAccount[][] = accounts.map(() => []);
    for (const row of rows)
      lists[(row.ord ?? 1) - 1]?.push({ token: row.token, platform: row.platform, boundAt: row.bound_at });
    return lists;
  }

  async accountsOfTokens(
    appId: number,
    tokens: string[],
    deadline?: number,
    after?: string,
  ): Promise<AccountOfToken[][]> {
    const [sql, params] =
      tokens.length === 1 ? [SQL.accountsOfToken, [appId, tokens[0]]] : [SQL.accountsOfTokens, [appId, tokens]];
    const { rows } = await this.read<{
      /** Absent for one token. */
      ord?: number;
      account: string;
      account_type: number;
      platform: AccountOfToken['platform'];
      bound_at: number;
    }>(appId, after, 'query accounts', sql, params, deadline);
    const lists: AccountOfToken[][] = tokens.map(() => []);
    for (const row of rows) {
      lists[(row.ord ?? 1) - 1]?.push({
        account: row.account,
        accountType: row.account_type,
        platform: row.platform,
        boundAt: row.bound_at,
      });
    }
    return lists;
  }

  async bindingsOf(appId: number, of: BindingsOf, deadline?: number, after?: string): Promise<Binding[]> {
    const { rows } =
      'token' in of
        ? await this.read<BindingRow>(appId, after, 'read bindings', SQL.bindingsOfToken, [appId, of.token], deadline)
        : await this.read<BindingRow>(
            appId,
            after,
            'read bindings',
            SQL.bindingsOfAccount,
            [appId, of.account.account, of.account.accountType],
            deadline,
          );
    return rows.map(rowToBinding);
  }

  /**
   * Pages in key order inside one REPEATABLE READ READ ONLY transaction, on a connection of its own
   * (the pool stays for requests): every page reads the snapshot taken at the first. The cost: one
   * connection per export, and while it runs, VACUUM keeps the row versions the snapshot can see.
   */
  async *exportBindings(appId: number, pageSize: number, after?: string): AsyncGenerator<Binding[], void, undefined> {
    if (this.closing) throw new StoreError('the store is closed', true);
    if (this.notStarted) throw this.notStarted;
    const source = await this.reads.source(appId, after);
    const client = await source.dedicated('export bindings').catch((error: unknown) => {
      // A replica away: the primary serves the export.
      if (source === this.db || !(error instanceof StoreError && error.unavailable)) throw error;
      this.reads.failed(source, error);
      return this.db.dedicated('export bindings');
    });
    try {
      await client.query(SQL.exportBegin);
      for (let after: BindingKey = FIRST_BINDING_KEY; ; ) {
        const rows = await client.query<BindingRow>(SQL.bindingsPage, [
          appId,
          after.token,
          after.account,
          after.accountType,
          pageSize,
        ]);
        if (rows.length === 0) return;
        const page = rows.map(rowToBinding);
        yield page;
        after = page.at(-1)!;
      }
    } finally {
      await client.close();
    }
  }

  async importBindings(appId: number, bindings: Binding[]): Promise<void> {
    let latest = 0;
    for (const b of bindings) if (b.boundAt > latest) latest = b.boundAt;
    // A bulk batch does much more than a request's statement: it gets a longer deadline.
    await this.transaction(
      'import bindings',
      async (client) => {
        for (const [sql, params] of upsertStatements(appId, lastOfEachKey(bindings))) await client.query(sql, params);
        // The app's clock is raised last (later binds sort after everything imported): two import
        // transactions of one app write their rows side by side and queue only for their commits.
        const { rows } = await client.query(SQL.appRaiseClock, [appId, latest]);
        if (!rows[0]) throw new AppNotFoundError(String(appId));
      },
      Date.now() + Math.max(30_000, this.options.timeoutMs),
    );
    await this.reads.recordPositions([appId]);
  }

  writePosition(appId: number): string | undefined {
    return this.reads.writePosition(appId);
  }

  replicaStats(): ReplicaStats | undefined {
    return this.reads.stats();
  }

  async ping(): Promise<void> {
    await this.query('ping', SQL.ping, []);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.writer.drain();
      await this.reads.close();
      await this.db.close();
    })();
    return this.closing;
  }

  private async query<R extends pg.QueryResultRow>(
    doing: string,
    sql: string,
    params: unknown[],
    deadline?: number,
  ): Promise<pg.QueryResult<R>> {
    if (this.closing) throw new StoreError('the store is closed', true);
    if (this.notStarted) throw this.notStarted;
    return this.db.query<R>(doing, sql, params, deadline);
  }

  /** A read of the app's data, where the read routing sends it. */
  private read<R extends pg.QueryResultRow>(
    appId: number,
    after: string | undefined,
    doing: string,
    sql: string,
    params: unknown[],
    deadline = this.db.deadline(),
  ): Promise<pg.QueryResult<R>> {
    if (this.closing) return Promise.reject(new StoreError('the store is closed', true));
    if (this.notStarted) return Promise.reject(this.notStarted);
    return this.reads.query<R>(appId, after, doing, sql, params, deadline);
  }

  /** `draining`: a group accepted before close() began, which close() waits for, may still run. */
  private async transaction<T>(
    doing: string,
    work: (client: pg.PoolClient) => Promise<T>,
    deadline?: number,
    draining = false,
  ): Promise<T> {
    if (this.closing && !draining) throw new StoreError('the store is closed', true);
    if (this.notStarted) throw this.notStarted;
    return this.db.transaction(doing, work, deadline);
  }
}
