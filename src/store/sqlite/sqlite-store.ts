/**
 * The embedded store. Reads run on this thread's connection (WAL readers never wait for the
 * writer), those of one event-loop turn in one read transaction (turn-snapshot.ts); every write goes
 * through a GroupCommitQueue to the writer thread, which answers after the commit is durable
 * (WAL + synchronous=FULL).
 */
import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { BatchRequest, WriteRulesModule } from '../../model/batch-transaction.ts';
import { type BatchResult, IDEMPOTENCY_WINDOW_MS, type IdempotencyKey } from '../../model/batch-transaction.ts';
import { AppExistsError, AppNotFoundError, IdempotencyMismatchError, StoreError } from '../../model/errors.ts';
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
import { walkHistorySlices } from '../history-slices.ts';
import {
  type AppRow,
  type BindingRow,
  type DeliveryRow,
  type HistoryRow,
  rowToApp,
  rowToBinding,
  rowToDelivery,
  rowToHistory,
} from '../rows.ts';
import { fileIdentity, openSqliteConnection, openSqliteReader } from './sqlite-connection.ts';
import { prepareDatabaseFile } from './sqlite-files.ts';
import { SQL } from './sqlite-queries.ts';
import { migrateSqlite } from './sqlite-schema.ts';
import { type SerializedError, toColumns, type WriteCommand, type WriteResult } from './sqlite-writer.ts';
import { TurnSnapshot } from './turn-snapshot.ts';

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

type TokenTuple = [token: string, platform: TokenOfAccount['platform'], boundAt: number];
type AccountTuple = [account: string, accountType: number, platform: AccountOfToken['platform'], boundAt: number];

/** Oldest bind first; bound_at is unique per store. The statements leave the order out (sqlite-queries.ts). */
const byBindTime = <T extends { boundAt: number }>(rows: T[]): T[] =>
  rows.length > 1 ? rows.sort((a, b) => a.boundAt - b.boundAt) : rows;

/** Reads run on the event loop: a lock they cannot get soon is answered 503, not waited for. */
const READ_BUSY_TIMEOUT_MS = 100;

/** Failures of the disk or the file rather than of the request: answered 503, and worth retrying. */
const UNAVAILABLE_SQLITE = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|BUSY|PROTOCOL|NOTADB|CORRUPT)/;

/** Under tsx (tests, `npm start`) the thread must load TypeScript too; compiled builds load .js directly. */
function startWriterThread(path: string): Worker {
  const entry = new URL(`./sqlite-writer-thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  const workerData = { path };
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const register = `import(${JSON.stringify(tsx)}).then((m) => m.register())`;
  const code = `${register}.then(() => import(${JSON.stringify(entry.href)}))`;
  return new Worker(code, { eval: true, workerData });
}

function reviveError(error: SerializedError): Error {
  if (error.name === 'AppExistsError') return new AppExistsError(error.accessId ?? '');
  if (error.name === 'AppNotFoundError') return new AppNotFoundError(error.accessId ?? '');
  if (error.name === 'IdempotencyMismatchError') return new IdempotencyMismatchError(error.key ?? '');
  return new StoreError(`${error.code ?? error.name}: ${error.message}`, UNAVAILABLE_SQLITE.test(error.code ?? ''));
}

export class SqliteStore implements BindingStore {
  readonly kind = 'sqlite' as const;
  /** One writer thread: a second batch in flight only adds contention (measured: ~207k -> ~180k lines/s). */
  readonly importConcurrency = 1;
  private readonly stmt;
  private readonly queue: GroupCommitQueue<WriteCommand, unknown>;
  private readonly apps = new AppCache();
  /** The main connection's reads of one event-loop turn share a read transaction (turn-snapshot.ts). */
  private readonly turn: TurnSnapshot;
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
  ) {
    this.identity = fileIdentity(file);
    this.turn = new TurnSnapshot(db);
    const p = (sql: string) => db.prepare(sql);
    this.stmt = {
      appByAccessId: p(SQL.appByAccessId),
      appsAll: p(SQL.appsAll),
      appCounts: p(SQL.appCounts),
      // Rows as arrays: no row object to build per row, and the answer is made from them at once.
      tokensOfAccount: p(SQL.tokensOfAccount).raw(),
      accountsOfToken: p(SQL.accountsOfToken).raw(),
      bindingsOfTokenByTime: p(SQL.bindingsOfTokenByTime),
      bindingsOfAccountByTime: p(SQL.bindingsOfAccountByTime),
      historyAll: p(SQL.historyAll),
      historyIds: p(SQL.historyIds),
      historyOfToken: p(SQL.historyOfToken),
      historyOfAccount: p(SQL.historyOfAccount),
      historyOfBinding: p(SQL.historyOfBinding),
      deliveriesOfApp: p(SQL.deliveriesOfApp),
      outboxBacklog: p(SQL.outboxBacklog),
      idempotencyGet: p(SQL.idempotencyGet),
      ping: p(SQL.ping),
    };
    this.queue = new GroupCommitQueue((commands) => this.commitGroup(commands));
    worker.on('message', (reply: Reply) => {
      // Before anyone hears of a commit, reads stop using the snapshot from before it.
      this.turn.end();
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
  static async open(path: string): Promise<SqliteStore> {
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
      await migrateSqlite(db);
      db.pragma(`busy_timeout = ${READ_BUSY_TIMEOUT_MS}`);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(`cannot open the SQLite database ${file}: ${(error as Error).message}`, false, {
        cause: error,
      });
    }
    const worker = startWriterThread(file);
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
    return new SqliteStore(db, worker, file);
  }

  async createApp(app: NewApp): Promise<App> {
    this.apps.forget(app.accessId);
    return (await this.write({ type: 'createApp', app })) as App;
  }

  async findApp(accessId: string): Promise<App | undefined> {
    const cached = this.apps.fresh(accessId);
    if (cached) return cached.app;
    const row = this.read(() => this.stmt.appByAccessId.get(accessId) as AppRow | undefined);
    return this.apps.keep(accessId, row && rowToApp(row));
  }

  async listApps(): Promise<App[]> {
    return this.read(() => (this.stmt.appsAll.all() as AppRow[]).map(rowToApp));
  }

  async countBindings(appId: number): Promise<AppCounts> {
    return this.read(() => this.stmt.appCounts.get({ appId }) as AppCounts);
  }

  async updateApp(accessId: string, patch: AppPatch): Promise<App | undefined> {
    try {
      return (await this.write({ type: 'updateApp', accessId, patch })) as App | undefined;
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
    const row = this.read(
      () =>
        this.stmt.idempotencyGet.get(appId, key) as
          | { body_hash: string; result: string; created_at: number }
          | undefined,
    );
    return row && row.created_at > Date.now() - IDEMPOTENCY_WINDOW_MS
      ? { bodyHash: row.body_hash, result: row.result }
      : undefined;
  }

  async rememberIdempotent(appId: number, key: IdempotencyKey, result: string): Promise<void> {
    await this.write({ type: 'rememberIdempotent', appId, key, result });
  }

  async history(
    appId: number,
    filter: HistoryFilter,
    limit: number,
    beforeId = Number.MAX_SAFE_INTEGER,
  ): Promise<HistoryEntry[]> {
    const { token, account } = filter;
    if (token === undefined && account === undefined) {
      return this.read(() => (this.stmt.historyAll.all(appId, beforeId, limit) as HistoryRow[]).map(rowToHistory));
    }
    const [statement, key] =
      token !== undefined && account !== undefined
        ? [this.stmt.historyOfBinding, [token, account.account, account.accountType]]
        : token !== undefined
          ? [this.stmt.historyOfToken, [token]]
          : [this.stmt.historyOfAccount, [account!.account, account!.accountType]];
    const ids = this.read(() => this.stmt.historyIds.get({ appId }) as { first: number | null; last: number | null });
    const rows = await walkHistorySlices(ids, beforeId, limit, (top, bottom, want) =>
      this.read(() => statement.all(top, bottom, appId, ...key, beforeId, want) as HistoryRow[]),
    );
    return rows.map(rowToHistory);
  }

  async claimWebhookEvents(now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]> {
    return (await this.write({ type: 'claimWebhookEvents', now, leaseMs, limit })) as WebhookEvent[];
  }

  async completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): Promise<void> {
    await this.write({ type: 'completeWebhookEvent', event, outcome });
  }

  async webhookDeliveries(appId: number, limit: number): Promise<WebhookDelivery[]> {
    return this.read(() => (this.stmt.deliveriesOfApp.all(appId, limit) as DeliveryRow[]).map(rowToDelivery));
  }

  async webhookBacklog(): Promise<WebhookBacklog> {
    return this.read(() => this.stmt.outboxBacklog.get() as WebhookBacklog);
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
    return this.read(() => {
      const found: TokenOfAccount[][] = [];
      for (const key of accounts) {
        const rows = this.stmt.tokensOfAccount.all(appId, key.account, key.accountType) as TokenTuple[];
        const tokens: TokenOfAccount[] = [];
        for (const [token, platform, boundAt] of rows) tokens.push({ token, platform, boundAt });
        found.push(byBindTime(tokens));
      }
      return found;
    });
  }

  async accountsOfTokens(appId: number, tokens: string[]): Promise<AccountOfToken[][]> {
    return this.read(() => {
      const found: AccountOfToken[][] = [];
      for (const token of tokens) {
        const rows = this.stmt.accountsOfToken.all(appId, token) as AccountTuple[];
        const accounts: AccountOfToken[] = [];
        for (const [account, accountType, platform, boundAt] of rows)
          accounts.push({ account, accountType, platform, boundAt });
        found.push(byBindTime(accounts));
      }
      return found;
    });
  }

  async bindingsOf(appId: number, of: BindingsOf): Promise<Binding[]> {
    const rows = this.read(() =>
      'token' in of
        ? this.stmt.bindingsOfTokenByTime.all(appId, of.token)
        : this.stmt.bindingsOfAccountByTime.all(appId, of.account.account, of.account.accountType),
    ) as BindingRow[];
    return byBindTime(rows.map(rowToBinding));
  }

  /**
   * One statement on a connection of its own: SQLite keeps its read transaction, and so its
   * snapshot, until the statement is done, whatever the writer commits meanwhile. The cost: the WAL
   * cannot be checkpointed past that snapshot, so it grows by what is written during the export
   * and is truncated at the first checkpoint after it.
   */
  async *exportBindings(appId: number, pageSize: number): AsyncGenerator<Binding[], void, undefined> {
    if (this.closing) throw new StoreError('the store is closed', true);
    const db = this.sqliteCall(() => openSqliteReader(this.file, READ_BUSY_TIMEOUT_MS));
    try {
      const rows = this.sqliteCall(() => db.prepare(SQL.bindingsOfApp).iterate(appId) as IterableIterator<BindingRow>);
      try {
        for (;;) {
          const page = this.sqliteCall(() => {
            const bindings: Binding[] = [];
            while (bindings.length < pageSize) {
              const next = rows.next();
              if (next.done) break;
              bindings.push(rowToBinding(next.value));
            }
            return bindings;
          });
          if (page.length === 0) return;
          yield page;
        }
      } finally {
        rows.return?.();
      }
    } finally {
      db.close();
    }
  }

  async importBindings(appId: number, bindings: Binding[]): Promise<void> {
    await this.write({ type: 'importBindings', appId, bindings: toColumns(bindings) });
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
    this.read(() => this.stmt.ping.get());
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
      this.turn.end();
      this.db.close();
    })();
    return this.closing;
  }

  /** A read on this thread's connection, in the turn's snapshot (consistent across its statements). */
  private read<T>(run: () => T): T {
    return this.sqliteCall(() => this.turn.run(run));
  }

  /** A call into SQLite, its failure turned into a StoreError. */
  private sqliteCall<T>(run: () => T): T {
    if (this.closing) throw new StoreError('the store is closed', true);
    try {
      return run();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const code = (error as { code?: string }).code ?? '';
      throw new StoreError(`SQLite read failed: ${code} ${(error as Error).message}`, UNAVAILABLE_SQLITE.test(code), {
        cause: error,
      });
    }
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
