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
import { StoreError } from '../../model/errors.ts';
import type {
  AccountOfToken,
  AppCounts,
  AppPatch,
  BindingPages,
  BindingStore,
  BindingsOf,
  DeliveryOutcome,
  HistoryEntry,
  HistoryFilter,
  NewApp,
  ReplicaStats,
  StoredSecret,
  SweepCounts,
  SweepCutoffs,
  TokenOfAccount,
  WebhookBacklog,
  WebhookDelivery,
  WebhookEvent,
} from '../../model/store.ts';
import type { AccountKey, App, Binding } from '../../model/types.ts';
import { AppCache } from '../app-cache.ts';
import { type MigrationResult, migrationNews } from '../migrations.ts';
import { type AppRow, type DeliveryRow, rowToApp, rowToDelivery } from '../rows.ts';
import { SecretBox, type SecretsOptions } from '../secret-box.ts';
import { sealAtStart } from '../secrets-at-rest.ts';
import { PostgresConnection, type PostgresConnectionOptions, toStoreError } from './postgres-connection.ts';
import { SQL } from './postgres-queries.ts';
import { PostgresReads } from './postgres-read-routing.ts';
import type { Read } from './postgres-reads.ts';
import * as reads from './postgres-reads.ts';
import {
  hasPostgresSchema,
  migratePostgres,
  POSTGRES_SCHEMA_VERSION,
  POSTGRES_SEALED_SECRETS,
} from './postgres-schema.ts';
import * as secrets from './postgres-secrets.ts';
import { PostgresWriter } from './postgres-writer.ts';

export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /**
   * true (the CLI): open() fails when the database cannot be reached. false (the server): open()
   * returns at once, every call answers unavailable, and the store connects and migrates in the
   * background with backoff until the database answers.
   */
  waitForDatabase?: boolean;
  /** The secrets keys, and whether each start checks and seals the stored secrets (secrets-at-rest.ts). */
  secrets?: SecretsOptions;
  /** Read replicas of the database: reads go to them, writes never (see postgres-replicas.ts). */
  readUrls?: string[];
  /** How long a read may wait for a replica to replay what it must see, before the primary serves it. */
  replicaWaitMs?: number;
  /** A replica further behind than this serves nothing. */
  replicaMaxLagMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Backoff between attempts to reach a database that was away at start. */
const CONNECT_BACKOFF_MS = { first: 250, max: 10_000 };

export class PostgresStore implements BindingStore {
  /** Two import transactions side by side: measured ~75k -> ~100k lines/s on 2 cores. */
  readonly importConcurrency = 2;
  readonly kind = 'postgres' as const;
  /** Batches, grouped into transactions (group commit). */
  private readonly writer: PostgresWriter;
  private closing: Promise<void> | null = null;
  private readonly apps = new AppCache();
  /** Seals the secrets written and opens those read (secret-box.ts). */
  private readonly secrets: SecretBox;
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
    this.secrets = options.secrets?.box ?? SecretBox.none;
    this.writer = new PostgresWriter(
      {
        batches: (doing, work, deadline) => this.transaction(doing, work, deadline, true),
        transaction: (doing, work, deadline) => this.transaction(doing, work, deadline),
        query: (doing, sql, params, deadline) => this.query(doing, sql, params, deadline),
      },
      (appIds) => this.reads.recordPositions(appIds),
      options.timeoutMs,
      options.poolSize,
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
  static hasSchema(url: string, timeoutMs: number): Promise<boolean> {
    return hasPostgresSchema(url, timeoutMs);
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

  /** Applies missing migrations, says in the log what it did, then checks and seals the stored secrets. */
  async migrate(): Promise<MigrationResult> {
    const log = this.options.log;
    // Migrations may wait for another instance's lock: no request deadline here.
    const result = await this.db.withClient('migrate', Number.MAX_SAFE_INTEGER, async (client) => {
      const migrated = await migratePostgres(client, log);
      // A store that seals what it writes is one that releases before sealed secrets must refuse.
      if (this.secrets.current) await client.query(SQL.oldestReaderRecord, [POSTGRES_SEALED_SECRETS]);
      return migrated;
    });
    const news = migrationNews(result, POSTGRES_SCHEMA_VERSION);
    if (news) log?.[news.level](`PostgreSQL: ${news.message}`);
    if (this.options.secrets?.atStart !== false) await sealAtStart(this, this.secrets, log);
    return result;
  }

  createApp(app: NewApp): Promise<App> {
    this.apps.forget(app.accessId);
    return this.writer.createApp(this.secrets.sealNewApp(app)).then((created) => this.secrets.openApp(created));
  }

  async findApp(accessId: string, deadline?: number): Promise<App | undefined> {
    return this.apps.get(accessId, async () => {
      const { rows } = await this.query<AppRow>('find app', SQL.appByAccessId, [accessId], deadline);
      return rows[0] && this.secrets.openApp(rowToApp(rows[0]));
    });
  }

  async listApps(): Promise<App[]> {
    return (await this.query<AppRow>('list apps', SQL.appsAll, [])).rows.map((row) =>
      this.secrets.openApp(rowToApp(row)),
    );
  }

  async countBindings(appId: number): Promise<AppCounts> {
    const { rows } = await this.query<AppCounts>('count bindings', SQL.appCounts, [appId]);
    return rows[0] ?? { bindings: 0, tokens: 0, accounts: 0, quarantined: 0 };
  }

  updateApp(accessId: string, patch: AppPatch): Promise<App | undefined> {
    this.apps.forget(accessId);
    return this.writer
      .updateApp(accessId, this.secrets.sealPatch(accessId, patch))
      .then((app) => app && this.secrets.openApp(app));
  }

  deleteApp(accessId: string): Promise<boolean> {
    this.apps.forget(accessId);
    return this.writer.deleteApp(accessId);
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

  history(
    appId: number,
    filter: HistoryFilter,
    limit: number,
    beforeId = Number.MAX_SAFE_INTEGER,
    deadline?: number,
    after?: string,
  ): Promise<HistoryEntry[]> {
    return reads.history(this.readBound, appId, filter, limit, beforeId, deadline, after);
  }

  claimWebhookEvents(now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]> {
    return this.writer
      .claimWebhookEvents(now, leaseMs, limit)
      .then((events) => events.map((event) => this.secrets.openEvent(event)));
  }

  /** On the primary, even before the store has started: migrate() seals at start with them. */
  storedSecrets(): Promise<StoredSecret[]> {
    return secrets.storedSecrets(this.db, this.closing !== null);
  }

  replaceStoredSecret(secret: StoredSecret, value: string): Promise<boolean> {
    return secrets.replaceStoredSecret(this.db, this.closing !== null, secret, value);
  }

  completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): Promise<void> {
    return this.writer.completeWebhookEvent(event, outcome);
  }

  async webhookDeliveries(appId: number, limit: number): Promise<WebhookDelivery[]> {
    return (await this.query<DeliveryRow>('read webhook deliveries', SQL.deliveriesOfApp, [appId, limit])).rows.map(
      rowToDelivery,
    );
  }

  async webhookBacklog(): Promise<WebhookBacklog> {
    return (await this.query<WebhookBacklog>('read the webhook backlog', SQL.outboxBacklog, [])).rows[0]!;
  }

  sweep(cutoffs: SweepCutoffs): Promise<SweepCounts> {
    return this.writer.sweep(cutoffs);
  }

  tokensOfAccounts(
    appId: number,
    accounts: AccountKey[],
    deadline?: number,
    after?: string,
  ): Promise<TokenOfAccount[][]> {
    return reads.tokensOfAccounts(this.readBound, appId, accounts, deadline, after);
  }

  accountsOfTokens(appId: number, tokens: string[], deadline?: number, after?: string): Promise<AccountOfToken[][]> {
    return reads.accountsOfTokens(this.readBound, appId, tokens, deadline, after);
  }

  bindingsOf(appId: number, of: BindingsOf, deadline?: number, after?: string): Promise<Binding[]> {
    return reads.bindingsOf(this.readBound, appId, of, deadline, after);
  }

  async *exportBindings(appId: number, pageSize: number, after?: string, fromToken = ''): BindingPages {
    if (this.closing) throw new StoreError('the store is closed', true);
    if (this.notStarted) throw this.notStarted;
    const client = await this.reads.dedicated(appId, after, 'export bindings');
    yield* reads.exportBindings(client, appId, pageSize, fromToken);
  }

  importBindings(appId: number, bindings: Binding[], slots = false): Promise<number> {
    return this.writer.importBindings(appId, bindings, slots);
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
  private readonly readBound: Read = (appId, after, doing, sql, params, deadline) =>
    this.read(appId, after, doing, sql, params, deadline);

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
