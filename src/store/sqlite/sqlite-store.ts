/**
 * The embedded store. Reads run on this thread's connection (WAL readers never wait for the
 * writer), those of one event-loop turn in one read transaction (sqlite-turn-snapshot.ts); every write goes
 * through a GroupCommitQueue to the writer thread, which answers after the commit is durable
 * (WAL + synchronous=FULL).
 */
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { BatchRequest, BatchResult, IdempotencyKey, WriteRulesModule } from '../../model/batch-transaction.ts';
import {
  AppExistsError,
  AppNotFoundError,
  IdempotencyMismatchError,
  RewindRefusedError,
  StoreError,
} from '../../model/errors.ts';
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
  StoredSecret,
  StoreLog,
  SweepCounts,
  SweepCutoffs,
  TokenOfAccount,
  WebhookBacklog,
  WebhookDelivery,
  WebhookEvent,
} from '../../model/store.ts';
import type { AccountKey, App, Binding } from '../../model/types.ts';
import { AppCache } from '../app-cache.ts';
import { GroupCommitQueue, type GroupResult } from '../group-commit.ts';
import { migrationNews, SchemaTooNewError } from '../migrations.ts';
import { rowToApp } from '../rows.ts';
import { SecretBox, type SecretsOptions, storedSecretsOf } from '../secret-box.ts';
import { sealAtStart } from '../secrets-at-rest.ts';
import { copyForMigration, wayBackFrom } from './sqlite-backup.ts';
import { fileIdentity, openSqliteConnection, type SqliteSynchronous } from './sqlite-connection.ts';
import { dropFreedSpace, prepareDatabaseFile } from './sqlite-files.ts';
import { SQL } from './sqlite-queries.ts';
import { READ_BUSY_TIMEOUT_MS, SqliteReads, UNAVAILABLE_SQLITE } from './sqlite-reads.ts';
import { migrateSqlite, SQLITE_SCHEMA_VERSION, SQLITE_SEALED_SECRETS } from './sqlite-schema.ts';
import { startThread } from './sqlite-threads.ts';
import { type SerializedError, toColumns, WRITE_SHARE, type WriteCommand, type WriteResult } from './sqlite-writer.ts';

type Reply = {
  id: number;
  results?: WriteResult[];
  failure?: { name: string; code: string | null; message: string };
  closed?: true;
};

/**
 * Below this much free space on the database's file system the store reports not ready: a tiny
 * probe may still commit into WAL space already allocated while a real batch fails.
 */
export const MIN_FREE_BYTES = 8 * 1024 * 1024;

function reviveError(error: SerializedError): Error {
  if (error.name === 'AppExistsError') return new AppExistsError(error.accessId ?? '');
  if (error.name === 'AppNotFoundError') return new AppNotFoundError(error.accessId ?? '');
  if (error.name === 'IdempotencyMismatchError') return new IdempotencyMismatchError(error.key ?? '');
  if (error.name === 'RewindRefusedError') return new RewindRefusedError(error.message);
  return new StoreError(`${error.code ?? error.name}: ${error.message}`, UNAVAILABLE_SQLITE.test(error.code ?? ''));
}

export class SqliteStore implements BindingStore {
  readonly kind = 'sqlite' as const;
  /** One writer thread: a second batch in flight only adds contention (measured: ~207k -> ~180k lines/s). */
  readonly importConcurrency = 1;
  private readonly reads: SqliteReads;
  private readonly queue: GroupCommitQueue<WriteCommand, unknown>;
  private readonly apps = new AppCache();
  private readonly waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  /** Transactions committed and commands they carried: commands/groups is the group-commit factor. */
  readonly writeStats = { groups: 0, commands: 0 };
  private closing: Promise<void> | null = null;
  /** Set when the writer thread is gone: writes are refused and ping fails, so /readyz reports it. */
  private writerFailure: StoreError | null = null;

  private readonly identity: string | null;

  private constructor(
    private readonly db: Database.Database,
    private readonly worker: Worker,
    private readonly file: string,
    /** Seals the secrets written and opens those read (secret-box.ts). */
    private readonly secrets: SecretBox,
  ) {
    this.identity = fileIdentity(file);
    this.reads = new SqliteReads(db, file, () => this.closing !== null);
    this.queue = new GroupCommitQueue((commands) => this.commitGroup(commands), 512, undefined, WRITE_SHARE);
    worker.on('message', (reply: Reply) => {
      // Before anyone hears of a commit, reads stop using the snapshot from before it.
      this.reads.endTurn();
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
    });
    worker.on('error', (error) =>
      this.failAll(new StoreError(`the SQLite writer thread failed: ${error.message}`, true)),
    );
    worker.on('exit', () => this.failAll(new StoreError('the SQLite writer thread exited', true)));
  }

  /** Opens (creating if needed) the database file, migrates it, and starts the writer thread. */
  /** `synchronous`: the writer's commits (FULL, the default, is on disk before answered). */
  /**
   * `log`: what the migration did, and where the copy it took first went (copyForMigration).
   * `secrets`: the keys, and whether to check and seal the stored secrets now (sealAtStart).
   */
  static async open(
    path: string,
    synchronous: SqliteSynchronous = 'FULL',
    log?: StoreLog,
    secrets: SecretsOptions = {},
  ): Promise<SqliteStore> {
    const file = resolve(path);
    try {
      prepareDatabaseFile(file);
    } catch (error) {
      throw new StoreError(`cannot create ${file} or its directory: ${(error as Error).message}`, false, {
        cause: error,
      });
    }
    let db: Database.Database;
    try {
      db = openSqliteConnection(file);
      const result = await migrateSqlite(db, (from) => {
        let copy: string;
        try {
          copy = copyForMigration(db, file, from);
        } catch (error) {
          throw new StoreError(
            `could not copy ${file} before migrating it from schema ${from}, so it was not migrated: ` +
              `${(error as Error).message}; make room beside it and start again`,
          );
        }
        log?.info(`SQLite: copied ${file} at schema ${from} to ${copy} before migrating it (the way back)`);
      }).catch((error: unknown) => {
        db.close();
        if (error instanceof SchemaTooNewError) {
          throw new SchemaTooNewError(error.at, error.oldestReader, error.known, `${file}: ${wayBackFrom(file)}`);
        }
        throw error;
      });
      // A store that seals what it writes is one that releases before sealed secrets must refuse.
      if (secrets.box?.current) db.prepare(SQL.oldestReaderRecord).run(SQLITE_SEALED_SECRETS);
      const news = migrationNews(result, SQLITE_SCHEMA_VERSION);
      if (news) log?.[news.level](`SQLite ${file}: ${news.message}`);
      db.pragma(`busy_timeout = ${READ_BUSY_TIMEOUT_MS}`);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(`cannot open the SQLite database ${file}: ${(error as Error).message}`, false, {
        cause: error,
      });
    }
    const worker = startThread('sqlite-writer-thread', { path: file, synchronous });
    await new Promise<void>((ready, fail) => {
      const onMessage = (message: { ready?: true }) => {
        if (!message.ready) return;
        worker.off('message', onMessage);
        worker.off('error', fail);
        ready();
      };
      worker.on('message', onMessage);
      worker.once('error', fail);
    }).catch((error: Error) => {
      db.close();
      throw new StoreError(`the SQLite writer thread did not start: ${error.message}`, false, { cause: error });
    });
    const store = new SqliteStore(db, worker, file, secrets.box ?? SecretBox.none);
    if (secrets.atStart === false) return store;
    const sealed = await sealAtStart(store, store.secrets, log).catch(async (error: unknown) => {
      await store.close();
      throw error;
    });
    if (sealed > 0) {
      dropFreedSpace(db);
      log?.info(
        `rewrote ${file} so that no clear-text copy of a sealed secret is left in it; copies taken before ` +
          '(backups, *.schema-N.backup) still hold them: keep them as safe as the key, or delete them',
      );
    }
    return store;
  }

  async createApp(app: NewApp): Promise<App> {
    this.apps.forget(app.accessId);
    return this.secrets.openApp((await this.write({ type: 'createApp', app: this.secrets.sealNewApp(app) })) as App);
  }

  async findApp(accessId: string): Promise<App | undefined> {
    const cached = this.apps.fresh(accessId);
    if (cached) return cached.app;
    const row = this.reads.appRow(accessId);
    return this.apps.keep(accessId, row && this.secrets.openApp(rowToApp(row)));
  }

  async listApps(): Promise<App[]> {
    return this.reads.appRows().map((row) => this.secrets.openApp(rowToApp(row)));
  }

  async countBindings(appId: number): Promise<AppCounts> {
    return this.reads.countBindings(appId);
  }

  async updateApp(accessId: string, patch: AppPatch): Promise<App | undefined> {
    try {
      const patched = this.secrets.sealPatch(accessId, patch);
      const app = (await this.write({ type: 'updateApp', accessId, patch: patched })) as App | undefined;
      return app && this.secrets.openApp(app);
    } finally {
      this.apps.forget(accessId);
    }
  }

  async deleteApp(accessId: string): Promise<boolean> {
    try {
      return (await this.write({ type: 'deleteApp', accessId })) as boolean;
    } finally {
      this.apps.forget(accessId);
    }
  }

  async runBatch(rules: WriteRulesModule, batch: BatchRequest): Promise<BatchResult> {
    return (await this.write({ type: 'runBatch', rules, batch })) as BatchResult;
  }

  async recallIdempotent(appId: number, key: string): Promise<{ bodyHash: string; result: string } | undefined> {
    return this.reads.recallIdempotent(appId, key);
  }

  async rememberIdempotent(appId: number, key: IdempotencyKey, result: string): Promise<void> {
    await this.write({ type: 'rememberIdempotent', appId, key, result });
  }

  history(appId: number, filter: HistoryFilter, limit: number, beforeId?: number): Promise<HistoryEntry[]> {
    return this.reads.history(appId, filter, limit, beforeId);
  }

  async claimWebhookEvents(now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]> {
    const events = (await this.write({ type: 'claimWebhookEvents', now, leaseMs, limit })) as WebhookEvent[];
    return events.map((event) => this.secrets.openEvent(event));
  }

  async completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): Promise<void> {
    await this.write({ type: 'completeWebhookEvent', event, outcome });
  }

  async storedSecrets(): Promise<StoredSecret[]> {
    return this.reads.appRows().flatMap((row) => storedSecretsOf(rowToApp(row)));
  }

  async replaceStoredSecret(secret: StoredSecret, value: string): Promise<boolean> {
    return (await this.write({ type: 'replaceSecret', secret, value })) as boolean;
  }

  async webhookDeliveries(appId: number, limit: number): Promise<WebhookDelivery[]> {
    return this.reads.webhookDeliveries(appId, limit);
  }

  async webhookBacklog(): Promise<WebhookBacklog> {
    return this.reads.webhookBacklog();
  }

  async sweep(cutoffs: SweepCutoffs): Promise<SweepCounts> {
    const total: SweepCounts = { history: 0, idempotency: 0, webhooks: 0 };
    const slice = 5000;
    for (;;) {
      const counts = (await this.write({ type: 'sweep', cutoffs, limit: slice })) as SweepCounts;
      total.history += counts.history;
      total.idempotency += counts.idempotency;
      total.webhooks += counts.webhooks;
      if (counts.history < slice && counts.idempotency < slice && counts.webhooks < slice) return total;
    }
  }

  async tokensOfAccounts(appId: number, accounts: AccountKey[]): Promise<TokenOfAccount[][]> {
    return this.reads.tokensOfAccounts(appId, accounts);
  }

  async accountsOfTokens(appId: number, tokens: string[]): Promise<AccountOfToken[][]> {
    return this.reads.accountsOfTokens(appId, tokens);
  }

  async bindingsOf(appId: number, of: BindingsOf): Promise<Binding[]> {
    return this.reads.bindingsOf(appId, of);
  }

  exportBindings(appId: number, pageSize: number, _after?: string, fromToken = ''): BindingPages {
    return this.reads.exportBindings(appId, pageSize, fromToken);
  }

  async importBindings(appId: number, bindings: Binding[], slots = false): Promise<number> {
    return (await this.write({ type: 'importBindings', appId, bindings: toColumns(bindings), slots })) as number;
  }

  /** One database: every read already sees every committed write. */
  writePosition(): undefined {
    return undefined;
  }

  replicaStats(): undefined {
    return undefined;
  }

  whenStarted(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Ready means a write can commit now: the writer runs, the file is still ours, the disk has room, and a probe
   * commits.
   */
  async ping(): Promise<void> {
    if (this.writerFailure) throw this.writerFailure;
    this.reads.ping();
    if (fileIdentity(this.file) !== this.identity) {
      throw new StoreError(
        `the database file ${this.file} was deleted or replaced while bindery had it open; writes are refused: ` +
          `restore it or restart bindery`,
        true,
      );
    }
    const disk = await statfs(dirname(this.file));
    const free = disk.bavail * disk.bsize;
    if (free < MIN_FREE_BYTES) {
      throw new StoreError(
        `the disk of ${this.file} is full (${free} bytes free, at least ${MIN_FREE_BYTES} needed): free some space`,
        true,
      );
    }
    await this.write({ type: 'probe' });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.drain();
      if (!this.writerFailure) {
        // The writer closes its connection itself, so the WAL is checkpointed and nothing is left half-written.
        const id = this.nextId++;
        const closed = new Promise<Reply>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
        this.worker.postMessage({ id, close: true });
        await closed.catch(() => undefined);
      }
      await this.worker.terminate();
      this.reads.endTurn();
      this.db.close();
    })();
    return this.closing;
  }

  private write(command: WriteCommand): Promise<unknown> {
    if (this.closing) return Promise.reject(new StoreError('the store is closing', true));
    if (this.writerFailure) return Promise.reject(this.writerFailure);
    return this.queue.submit(command);
  }

  private async commitGroup(commands: WriteCommand[]): Promise<GroupResult<unknown>[]> {
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      if (this.writerFailure) return reject(this.writerFailure);
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, commands });
    });
    if (reply.failure !== undefined || !reply.results) {
      const failure = reply.failure;
      const unavailable =
        failure !== undefined &&
        (failure.name === 'DatabaseFileGoneError' || UNAVAILABLE_SQLITE.test(failure.code ?? ''));
      throw new StoreError(
        `SQLite commit failed: ${failure ? `${failure.code ?? failure.name}: ${failure.message}` : 'no results'}`,
        unavailable,
      );
    }
    this.writeStats.groups++;
    this.writeStats.commands += commands.length;
    return reply.results.map((r) => (r.ok ? { ok: true, value: r.value } : { ok: false, error: reviveError(r.error) }));
  }

  private failAll(error: StoreError): void {
    if (!this.closing) this.writerFailure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
