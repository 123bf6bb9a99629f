/**
 * The embedded store's reads, on the main thread's connection: WAL readers never wait for the
 * writer thread, and the reads of one event-loop turn share one read transaction (sqlite-turn-snapshot.ts),
 * ended whenever a commit is about to be answered. An export reads on a connection of its own.
 */
import type Database from 'better-sqlite3';
import { IDEMPOTENCY_WINDOW_MS } from '../../model/batch-transaction.ts';
import { StoreError } from '../../model/errors.ts';
import type {
  AccountOfToken,
  AppCounts,
  BindingsOf,
  HistoryEntry,
  HistoryFilter,
  TokenOfAccount,
  WebhookBacklog,
  WebhookDelivery,
} from '../../model/store.ts';
import type { AccountKey, Binding } from '../../model/types.ts';
import { walkHistorySlices } from '../history-slices.ts';
import {
  type AppRow,
  type BindingRow,
  type DeliveryRow,
  type HistoryRow,
  rowToBinding,
  rowToDelivery,
  rowToHistory,
} from '../rows.ts';
import { openSqliteReader } from './sqlite-connection.ts';
import { SQL } from './sqlite-queries.ts';
import { TurnSnapshot } from './sqlite-turn-snapshot.ts';

type TokenTuple = [token: string, platform: TokenOfAccount['platform'], boundAt: number];
type AccountTuple = [account: string, accountType: number, platform: AccountOfToken['platform'], boundAt: number];

/** Oldest bind first; bound_at is unique per store. The statements leave the order out (sqlite-queries.ts). */
const byBindTime = <T extends { boundAt: number }>(rows: T[]): T[] =>
  rows.length > 1 ? rows.sort((a, b) => a.boundAt - b.boundAt) : rows;

/** Reads run on the event loop: a lock they cannot get soon is answered 503, not waited for. */
export const READ_BUSY_TIMEOUT_MS = 100;

/** Failures of the disk or the file rather than of the request: answered 503, and worth retrying. */
export const UNAVAILABLE_SQLITE = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|BUSY|PROTOCOL|NOTADB|CORRUPT)/;

export class SqliteReads {
  private readonly stmt;
  /** The main connection's reads of one event-loop turn share a read transaction (sqlite-turn-snapshot.ts). */
  private readonly turn: TurnSnapshot;

  constructor(
    db: Database.Database,
    private readonly file: string,
    /** True once the store closes: reads are refused. */
    private readonly closed: () => boolean,
  ) {
    this.turn = new TurnSnapshot(db);
    const p = (sql: string) => db.prepare(sql);
    this.stmt = {
      appByAccessId: p(SQL.appByAccessId),
      appsAll: p(SQL.appsAll),
      appCounts: p(SQL.appCounts),
      // Rows as arrays: no row object to build per row, and the answer is made from them at once.
      tokensOfAccount: p(SQL.tokensOfAccount).raw(),
      accountsOfToken: p(SQL.accountsOfToken).raw(),
      bindingsOfToken: p(SQL.bindingsOfToken),
      bindingsOfAccount: p(SQL.bindingsOfAccount),
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
  }

  /** Ends the turn's snapshot: a commit is about to be answered, and later reads must see it. */
  endTurn(): void {
    this.turn.end();
  }

  appRow(accessId: string): AppRow | undefined {
    return this.read(() => this.stmt.appByAccessId.get(accessId) as AppRow | undefined);
  }

  appRows(): AppRow[] {
    return this.read(() => this.stmt.appsAll.all() as AppRow[]);
  }

  countBindings(appId: number): AppCounts {
    return this.read(() => this.stmt.appCounts.get({ appId }) as AppCounts);
  }

  recallIdempotent(appId: number, key: string): { bodyHash: string; result: string } | undefined {
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

  webhookDeliveries(appId: number, limit: number): WebhookDelivery[] {
    return this.read(() => (this.stmt.deliveriesOfApp.all(appId, limit) as DeliveryRow[]).map(rowToDelivery));
  }

  webhookBacklog(): WebhookBacklog {
    return this.read(() => this.stmt.outboxBacklog.get() as WebhookBacklog);
  }

  /** The database answers a read at all. */
  ping(): void {
    this.read(() => this.stmt.ping.get());
  }

  tokensOfAccounts(appId: number, accounts: AccountKey[]): TokenOfAccount[][] {
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

  accountsOfTokens(appId: number, tokens: string[]): AccountOfToken[][] {
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

  bindingsOf(appId: number, of: BindingsOf): Binding[] {
    const rows = this.read(() =>
      'token' in of
        ? this.stmt.bindingsOfToken.all(appId, of.token)
        : this.stmt.bindingsOfAccount.all(appId, of.account.account, of.account.accountType),
    ) as BindingRow[];
    return byBindTime(rows.map(rowToBinding));
  }

  /**
   * One statement on a connection of its own: SQLite keeps its read transaction, and so its
   * snapshot, until the statement is done, whatever the writer commits meanwhile. The cost: the WAL
   * cannot be checkpointed past that snapshot, so it grows by what is written during the export
   * and is truncated at the first checkpoint after it.
   */
  async *exportBindings(
    appId: number,
    pageSize: number,
    fromToken: string,
  ): AsyncGenerator<Binding[], void, undefined> {
    if (this.closed()) throw new StoreError('the store is closed', true);
    const db = this.sqliteCall(() => openSqliteReader(this.file, READ_BUSY_TIMEOUT_MS));
    try {
      const rows = this.sqliteCall(
        () => db.prepare(SQL.bindingsExport).iterate(appId, fromToken) as IterableIterator<BindingRow>,
      );
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

  /** A read on this thread's connection, in the turn's snapshot (consistent across its statements). */
  private read<T>(run: () => T): T {
    return this.sqliteCall(() => this.turn.run(run));
  }

  /** A call into SQLite, its failure turned into a StoreError. */
  sqliteCall<T>(run: () => T): T {
    if (this.closed()) throw new StoreError('the store is closed', true);
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
}
