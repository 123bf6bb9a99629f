/**
 * The PostgreSQL store, for several stateless instances on one database. Writes of one instance
 * are grouped into one transaction (group commit); every transaction locks the rows of the apps it
 * writes, in id order, so writes of one app are serialized across instances without deadlocks.
 * Retryable conflicts are retried here, bounded and with jitter; an unreachable database fails
 * fast (within the store timeout) as unavailable.
 */
import pg from 'pg';
import { bindingKeyString, type AccountKey, type App, type BatchCommand, type Binding } from '../../domain/types.ts';
import { AppExistsError, AppNotFoundError, StoreError } from '../../errors.ts';
import { AppCache } from '../app-cache.ts';
import { GroupCommitQueue, type GroupResult } from '../group-commit.ts';
import {
  patchedAppColumns,
  rowToApp,
  rowToBinding,
  rowToDelivery,
  rowToHistory,
  rowToWebhookEvent,
  type AppRow,
  type BindingRow,
  type DeliveryRow,
  type HistoryRow,
  type OutboxRow,
} from '../rows.ts';
import { IDEMPOTENCY_WINDOW_MS } from '../store.ts';
import type {
  AccountOfToken,
  AppCounts,
  AppPatch,
  BatchResult,
  BindingKey,
  BindingStore,
  DeliveryOutcome,
  HistoryEntry,
  HistoryFilter,
  IdempotencyKey,
  NewApp,
  SweepCounts,
  SweepCutoffs,
  TokenOfAccount,
  WebhookDelivery,
  WebhookEvent,
} from '../store.ts';
import { applyGroup, upsertParams, type BatchItem } from './postgres-batch.ts';
import { SQL } from './postgres-queries.ts';
import { migratePostgres } from './postgres-schema.ts';

export interface PostgresStoreOptions {
  /** How long to wait for a connection or a statement before answering unavailable. */
  timeoutMs: number;
  poolSize: number;
  /** Upper bound on attempts for a transaction that hit a serialization failure or deadlock. */
  maxAttempts?: number;
}

/** BIGINT (count(*), times, revisions) as JS numbers: every value we store is below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const RETRYABLE = new Set(['40001', '40P01']);

/** Could not reach the database, or it went away: nothing to fix in the request, try again later. */
function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  const code = e.code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  if (code.startsWith('08')) return true;
  return /timeout|terminat|Connection ended|not queryable|connection/i.test(e.message ?? '');
}

function toStoreError(error: unknown, doing: string): Error {
  if (error instanceof StoreError || error instanceof AppNotFoundError || error instanceof AppExistsError) return error;
  const message = (error as Error).message ?? String(error);
  return new StoreError(`PostgreSQL ${doing} failed: ${message}`, isUnavailable(error), { cause: error });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * PostgreSQL refuses to upsert one row twice in a statement; rows apply in order, so a key given
 * twice keeps its last row.
 */
function lastOfEachKey(bindings: Binding[]): Binding[] {
  const byKey = new Map<string, Binding>();
  for (const b of bindings) byKey.set(bindingKeyString(b), b);
  return byKey.size === bindings.length ? bindings : [...byKey.values()];
}

export class PostgresStore implements BindingStore {
  /** Two import transactions side by side: measured ~75k -> ~100k lines/s on 2 cores. */
  readonly importConcurrency = 2;
  readonly kind = 'postgres' as const;
  private readonly queue: GroupCommitQueue<BatchItem, BatchResult>;
  private closing: Promise<void> | null = null;
  private readonly apps = new AppCache();
  readonly writeStats = { groups: 0, commands: 0, retries: 0 };

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresStoreOptions,
  ) {
    this.queue = new GroupCommitQueue((items) => this.commitGroup(items));
  }

  /** Connects, migrates (under an advisory lock) and returns the store. */
  static async open(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize,
      connectionTimeoutMillis: options.timeoutMs,
      query_timeout: options.timeoutMs,
      idleTimeoutMillis: 30_000,
      types,
    });
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    pool.on('error', () => undefined);
    const store = new PostgresStore(pool, options);
    try {
      await store.migrate();
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (error instanceof StoreError) throw error;
      throw new StoreError(`cannot open the PostgreSQL database: ${(error as Error).message}`, isUnavailable(error), { cause: error });
    }
    return store;
  }

  /** Applies missing migrations; returns the versions it applied. */
  async migrate(): Promise<number[]> {
    const client = await this.pool.connect();
    try {
      return await migratePostgres(client);
    } finally {
      client.release();
    }
  }

  async createApp(app: NewApp): Promise<App> {
    this.apps.forget(app.accessId);
    const { rows } = await this.query<AppRow>('create app', SQL.appInsert, [
      app.accessId, app.name, app.secretKey, app.policy.maxTokensPerAccount, app.policy.maxAccountsPerToken, Date.now(),
    ]);
    if (!rows[0]) throw new AppExistsError(app.accessId);
    return rowToApp(rows[0]);
  }

  async findApp(accessId: string): Promise<App | undefined> {
    return this.apps.get(accessId, async () => {
      const { rows } = await this.query<AppRow>('find app', SQL.appByAccessId, [accessId]);
      return rows[0] && rowToApp(rows[0]);
    });
  }

  async listApps(): Promise<App[]> {
    return (await this.query<AppRow>('list apps', SQL.appsAll, [])).rows.map(rowToApp);
  }

  async countBindings(appId: number): Promise<AppCounts> {
    const { rows } = await this.query<AppCounts>('count bindings', SQL.appCounts, [appId]);
    return rows[0] ?? { bindings: 0, tokens: 0, accounts: 0 };
  }

  async updateApp(accessId: string, patch: AppPatch): Promise<App | undefined> {
    this.apps.forget(accessId);
    return this.transaction('update app', async (client) => {
      const { rows } = await client.query<AppRow>(SQL.appForUpdate, [accessId]);
      if (!rows[0]) return undefined;
      // Events queued for a webhook that is turned off have nowhere to go.
      if (patch.webhook === null) await client.query(SQL.outboxDropPending, [accessId]);
      const c = patchedAppColumns(rowToApp(rows[0]), patch);
      const updated = await client.query<AppRow>(SQL.appUpdate, [
        accessId, c.name, c.secretKey, c.previousSecretKey, c.previousSecretExpiresAt, c.maxTokensPerAccount,
        c.maxAccountsPerToken, c.webhookUrl, c.webhookSecret, c.rateLimitPerSecond, c.rateLimitBurst,
      ]);
      return updated.rows[0] && rowToApp(updated.rows[0]);
    });
  }

  async deleteApp(accessId: string): Promise<boolean> {
    this.apps.forget(accessId);
    return this.transaction('delete app', async (client) => {
      const { rows } = await client.query<{ id: number }>(SQL.appDelete, [accessId]);
      if (!rows[0]) return false;
      for (const sql of SQL.appDataDelete) await client.query(sql, [rows[0].id]);
      return true;
    });
  }

  async applyBatch(appId: number, command: BatchCommand, idempotency?: IdempotencyKey): Promise<BatchResult> {
    if (this.closing) throw new StoreError('the store is closing', true);
    return this.queue.submit({ appId, command, ...(idempotency ? { idempotency } : {}) });
  }

  async recallIdempotent(appId: number, key: string): Promise<{ bodyHash: string; result: string } | undefined> {
    const { rows } = await this.query<{ body_hash: string; result: string; created_at: number }>('read idempotency key', SQL.idempotencyGet, [appId, key]);
    const row = rows[0];
    return row && row.created_at > Date.now() - IDEMPOTENCY_WINDOW_MS ? { bodyHash: row.body_hash, result: row.result } : undefined;
  }

  async rememberIdempotent(appId: number, key: IdempotencyKey, result: string): Promise<void> {
    await this.query('store idempotency key', SQL.idempotencyPut, [appId, key.key, key.bodyHash, result, Date.now()]);
  }

  async history(appId: number, filter: HistoryFilter, limit: number, beforeId = Number.MAX_SAFE_INTEGER): Promise<HistoryEntry[]> {
    const { token, account } = filter;
    const [sql, params] =
      token !== undefined && account !== undefined
        ? [SQL.historyOfBinding, [appId, token, account.account, account.accountType, beforeId, limit]]
        : token !== undefined
          ? [SQL.historyOfToken, [appId, token, beforeId, limit]]
          : account !== undefined
            ? [SQL.historyOfAccount, [appId, account.account, account.accountType, beforeId, limit]]
            : [SQL.historyAll, [appId, beforeId, limit]];
    return (await this.query<HistoryRow>('read history', sql, params)).rows.map(rowToHistory);
  }

  async claimWebhookEvents(now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]> {
    const { rows } = await this.query<OutboxRow>('claim webhook events', SQL.outboxClaim, [now, now + leaseMs, limit]);
    return rows.map(rowToWebhookEvent).sort((a, b) => a.id - b.id);
  }

  async completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): Promise<void> {
    await this.transaction('record webhook delivery', async (client) => {
      await client.query(SQL.deliveryInsert, [event.id, event.appId, outcome.at, event.attempts + 1, outcome.status, outcome.error, outcome.durationMs]);
      const state = typeof outcome.next === 'number' ? 'pending' : outcome.next;
      await client.query(SQL.outboxComplete, [state, typeof outcome.next === 'number' ? outcome.next : outcome.at, event.id]);
    });
  }

  async webhookDeliveries(appId: number, limit: number): Promise<WebhookDelivery[]> {
    return (await this.query<DeliveryRow>('read webhook deliveries', SQL.deliveriesOfApp, [appId, limit])).rows.map(rowToDelivery);
  }

  async sweep(cutoffs: SweepCutoffs): Promise<SweepCounts> {
    const total: SweepCounts = { history: 0, idempotency: 0, webhooks: 0 };
    const slice = 5000;
    const run = async (sql: string, before: number) => (await this.query('sweep', sql, [before, slice])).rowCount ?? 0;
    for (let more = true; more; ) {
      const history = await run(SQL.sweepHistory, cutoffs.historyBefore);
      const idempotency = await run(SQL.sweepIdempotency, cutoffs.idempotencyBefore);
      const webhooks = (await run(SQL.sweepOutbox, cutoffs.webhooksBefore)) + (await run(SQL.sweepDeliveries, cutoffs.webhooksBefore));
      total.history += history;
      total.idempotency += idempotency;
      total.webhooks += webhooks;
      more = history === slice || idempotency === slice || webhooks >= slice;
    }
    return total;
  }

  async tokensOfAccounts(appId: number, accounts: AccountKey[]): Promise<TokenOfAccount[][]> {
    const { rows } = await this.query<{ ord: number; token: string; platform: TokenOfAccount['platform']; bound_at: number }>(
      'query tokens', SQL.tokensOfAccounts, [appId, accounts.map((a) => a.account), accounts.map((a) => a.accountType)],
    );
    const lists: TokenOfAccount[][] = accounts.map(() => []);
    for (const row of rows) lists[row.ord - 1]?.push({ token: row.token, platform: row.platform, boundAt: row.bound_at });
    return lists;
  }

  async accountsOfTokens(appId: number, tokens: string[]): Promise<AccountOfToken[][]> {
    const { rows } = await this.query<{ ord: number; account: string; account_type: number; platform: AccountOfToken['platform']; bound_at: number }>(
      'query accounts', SQL.accountsOfTokens, [appId, tokens],
    );
    const lists: AccountOfToken[][] = tokens.map(() => []);
    for (const row of rows) {
      lists[row.ord - 1]?.push({ account: row.account, accountType: row.account_type, platform: row.platform, boundAt: row.bound_at });
    }
    return lists;
  }

  async listBindings(appId: number, after: BindingKey, limit: number): Promise<Binding[]> {
    const { rows } = await this.query<BindingRow>('list bindings', SQL.bindingsPage, [appId, after.token, after.account, after.accountType, limit]);
    return rows.map(rowToBinding);
  }

  async importBindings(appId: number, bindings: Binding[]): Promise<void> {
    let latest = 0;
    for (const b of bindings) if (b.boundAt > latest) latest = b.boundAt;
    await this.transaction('import bindings', async (client) => {
      await client.query(SQL.bindingsUpsert, upsertParams(appId, lastOfEachKey(bindings)));
      // The app's clock is raised last (later binds sort after everything imported): two import
      // transactions of one app write their rows side by side and queue only for their commits.
      const { rows } = await client.query(SQL.appRaiseClock, [appId, latest]);
      if (!rows[0]) throw new AppNotFoundError(String(appId));
    });
  }

  async ping(): Promise<void> {
    await this.query('ping', SQL.ping, []);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.drain();
      await this.pool.end();
    })();
    return this.closing;
  }

  private async query<R extends pg.QueryResultRow>(doing: string, sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closing) throw new StoreError('the store is closed', true);
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw toStoreError(error, doing);
    }
  }

  /** Runs `work` in a transaction, retrying serialization failures and deadlocks with jittered backoff. */
  /** `draining`: a group accepted before close() began, which close() waits for, may still run. */
  private async transaction<T>(doing: string, work: (client: pg.PoolClient) => Promise<T>, draining = false): Promise<T> {
    if (this.closing && !draining) throw new StoreError('the store is closed', true);
    const maxAttempts = this.options.maxAttempts ?? 6;
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw toStoreError(error, doing);
      }
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        const code = (error as { code?: string }).code ?? '';
        if (RETRYABLE.has(code) && attempt < maxAttempts) {
          this.writeStats.retries++;
          await sleep(Math.random() * 10 * 2 ** attempt);
          continue;
        }
        broken ||= isUnavailable(error);
        throw toStoreError(error, doing);
      } finally {
        client.release(broken);
      }
    }
  }

  private async commitGroup(items: BatchItem[]): Promise<GroupResult<BatchResult>[]> {
    try {
      const results = await this.transaction('apply batches', (client) => applyGroup(client, items), true);
      this.writeStats.groups++;
      this.writeStats.commands += items.length;
      return results;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      // One command must not fail its neighbours: unless the database is away, retry each alone.
      if (items.length > 1 && !(failure instanceof StoreError && failure.unavailable)) {
        const alone: GroupResult<BatchResult>[] = [];
        for (const item of items) alone.push(...(await this.commitGroup([item]).catch((e: Error) => [{ ok: false as const, error: e }])));
        return alone;
      }
      throw failure;
    }
  }
}
