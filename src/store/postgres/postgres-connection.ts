/**
 * The connections of a PostgreSQL store, and the two promises every database call keeps:
 *
 * - **A database event never ends the process.** Every client the pool makes gets an error listener
 *   for its whole life, checked out or idle (pg-pool listens only on idle ones; an 'error' event
 *   with no listener ends the process). A broken client is discarded, never reused.
 * - **One deadline per call.** The wait for a connection, BEGIN, the statements, COMMIT and ROLLBACK
 *   all count against one deadline. When it passes, the connection's socket is destroyed (the
 *   server rolls back a transaction whose client is gone) and the call fails as unavailable, so a
 *   frozen database costs a request its deadline and not a second more.
 *
 * It also follows the database's state (reachable or not) and says so once per change.
 */
import pg from 'pg';
import { StoreError } from '../../model/errors.ts';
import type { StoreLog } from '../../model/store.ts';
import { SQL } from './postgres-queries.ts';

export interface PostgresConnectionOptions {
  timeoutMs: number;
  poolSize: number;
  /** Upper bound on attempts for a transaction that hit a serialization failure or deadlock. */
  maxAttempts?: number;
  log?: StoreLog;
}

/** BIGINT (count(*), times, revisions) as JS numbers: every value we store is below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const RETRYABLE = new Set(['40001', '40P01']);
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  // A primary that became a replica under a connection (switchover, failover): writes refused.
  '25006',
]);

/** Could not reach the database, or it went away: nothing to fix in the request, try again later. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof StoreError) return error.unavailable;
  const e = error as { code?: string; message?: string };
  const code = e.code ?? '';
  if (UNAVAILABLE_CODES.has(code) || code.startsWith('08')) return true;
  return /timeout|terminat|Connection ended|not queryable|connection/i.test(e.message ?? '');
}

export function toStoreError(error: unknown, doing: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = (error as Error).message ?? String(error);
  return new StoreError(`PostgreSQL ${doing} failed: ${message}`, isUnavailable(error), { cause: error });
}

/** setTimeout's largest delay: a deadline further away than this has no timer (migrations). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The socket under a pg client: destroying it fails the query in flight at once, even on a frozen server. */
function destroySocket(client: pg.ClientBase): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * A connection outside the pool, for work that holds one for long (an export's snapshot) without
 * taking it from the requests. Each statement has its own deadline; an error event is handled.
 */
export class DedicatedClient {
  private constructor(
    private readonly client: pg.Client,
    private readonly doing: string,
    private readonly timeoutMs: number,
  ) {}

  static async open(
    url: string,
    doing: string,
    timeoutMs: number,
    onError: (error: Error) => void,
  ): Promise<DedicatedClient> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, types });
    client.on('error', onError);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw toStoreError(error, doing);
    }
    return new DedicatedClient(client, doing, timeoutMs);
  }

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      destroySocket(this.client);
    }, this.timeoutMs);
    try {
      return (await this.client.query<R>(sql, params)).rows;
    } catch (error) {
      if (expired)
        throw new StoreError(`PostgreSQL ${this.doing} failed: no answer within ${this.timeoutMs} ms`, true, {
          cause: error,
        });
      throw toStoreError(error, this.doing);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the session (the server ends its transaction with it). */
  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

export class PostgresConnection {
  readonly pool: pg.Pool;
  private reachable = true;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly options: PostgresConnectionOptions,
  ) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize,
      connectionTimeoutMillis: options.timeoutMs,
      idleTimeoutMillis: 30_000,
      types,
    });
    // Idle clients: the pool discards a broken one itself; this only keeps the event handled.
    this.pool.on('error', (error) => this.markUnreachable(error));
    // Every client, for its whole life (checked out included): the query in flight fails with the
    // error by itself; without a listener the same error would also end the process.
    this.pool.on('connect', (client) => client.on('error', (error) => this.markUnreachable(error)));
  }

  /** The deadline of a call that starts now. */
  deadline(): number {
    return Date.now() + this.options.timeoutMs;
  }

  /** One statement outside a transaction. */
  query<R extends pg.QueryResultRow>(
    doing: string,
    sql: string,
    params: unknown[],
    deadline = this.deadline(),
  ): Promise<pg.QueryResult<R>> {
    return this.withClient(doing, deadline, (client) => client.query<R>(sql, params));
  }

  /** Runs `work` in a transaction, retrying serialization failures and deadlocks (jittered) within the deadline. */
  async transaction<T>(
    doing: string,
    work: (client: pg.PoolClient) => Promise<T>,
    deadline = this.deadline(),
  ): Promise<T> {
    const maxAttempts = this.options.maxAttempts ?? 6;
    for (let attempt = 1; ; attempt++) {
      let committing = false;
      try {
        return await this.withClient(doing, deadline, async (client) => {
          await client.query(SQL.begin);
          try {
            const result = await work(client);
            committing = true;
            await client.query('COMMIT');
            return result;
          } catch (error) {
            if (!isUnavailable(error)) await client.query('ROLLBACK');
            throw error;
          }
        });
      } catch (error) {
        // The connection went (or the deadline cut it, or the server was shut down) once COMMIT was on its
        // way: PostgreSQL may have committed. A refusal of the commit itself (a conflict) is not unavailable.
        if (committing && isUnavailable(error))
          throw new StoreError(
            `PostgreSQL ${doing}: the connection was lost while committing, so the outcome is unknown`,
            true,
            { cause: error, outcomeUnknown: true },
          );
        const code =
          (error as StoreError).cause instanceof Error
            ? ((error as StoreError).cause as { code?: string }).code
            : undefined;
        const backoff = Math.random() * 10 * 2 ** attempt;
        if (code && RETRYABLE.has(code) && attempt < maxAttempts && Date.now() + backoff < deadline) {
          await sleep(backoff);
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * A client for `work`, all within `deadline`. A client whose work failed on the connection (or ran
   * out of time) is destroyed rather than returned to the pool.
   *
   * One timer covers the whole call (this is every statement's path, so it costs no more than it
   * must: no promise race, no second timer): while the call waits for a connection, it gives up on
   * it (one that arrives later goes straight back); once the work runs, it destroys the socket,
   * which fails the statement in flight at once, even on a frozen server.
   */
  withClient<T>(doing: string, deadline: number, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('the store is closed', true));
    const remaining = deadline - Date.now();
    if (remaining <= 0)
      return Promise.reject(
        new StoreError(`PostgreSQL ${doing}: no time left within ${this.options.timeoutMs} ms`, true),
      );
    return new Promise<T>((resolve, reject) => {
      let client: pg.PoolClient | undefined;
      let expired = false;
      const timer =
        remaining < MAX_TIMER_MS
          ? setTimeout(() => {
              expired = true;
              if (client) return destroySocket(client);
              const failure = new StoreError(
                `PostgreSQL ${doing} failed: no connection within ${this.options.timeoutMs} ms`,
                true,
              );
              this.markUnreachable(failure);
              reject(failure);
            }, remaining)
          : undefined;
      this.pool.connect((error, connected) => {
        if (expired) return connected?.release();
        if (error || !connected) {
          clearTimeout(timer);
          return reject(this.failureOf(doing, error, false));
        }
        client = connected;
        let running: Promise<T>;
        try {
          running = work(connected);
        } catch (thrown) {
          running = Promise.reject(thrown);
        }
        running.then(
          (result) => {
            clearTimeout(timer);
            connected.release();
            this.markReachable();
            resolve(result);
          },
          (failure: unknown) => {
            clearTimeout(timer);
            const broken = expired || isUnavailable(failure);
            connected.release(broken);
            reject(this.failureOf(doing, failure, expired, broken));
          },
        );
      });
    });
  }

  /**
   * What a call that failed rejects with. Out of time: unavailable. What the work itself decided
   * (an app that is gone, a key reused) passes through as it is; the database's and the
   * connection's failures become a StoreError, and an unavailable one marks PostgreSQL unreachable.
   */
  private failureOf(doing: string, error: unknown, expired: boolean, broken = true): unknown {
    if (expired) {
      const message = `PostgreSQL ${doing} failed: no answer within ${this.options.timeoutMs} ms`;
      const failure = new StoreError(message, true, { cause: error });
      this.markUnreachable(failure);
      return failure;
    }
    if (!(error instanceof pg.DatabaseError) && !broken) return error;
    const failure = toStoreError(error, doing);
    if (failure.unavailable) this.markUnreachable(failure);
    return failure;
  }

  /** A connection of its own (not from the pool), connected within the store timeout. */
  dedicated(doing: string): Promise<DedicatedClient> {
    if (this.closed) throw new StoreError('the store is closed', true);
    return DedicatedClient.open(this.url, doing, this.options.timeoutMs, (error) => this.markUnreachable(error));
  }

  /** Reachable again: said once. */
  markReachable(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.options.log?.info('PostgreSQL is reachable again; serving');
  }

  markUnreachable(error: unknown): void {
    if (!this.reachable || this.closed) return;
    this.reachable = false;
    this.options.log?.warn(
      `PostgreSQL is unreachable (${(error as Error).message ?? String(error)}); answering 503 until it is back`,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.end();
  }
}
