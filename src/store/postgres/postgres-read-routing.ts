/**
 * Where a read of an app is served, with read replicas: on a replica that has replayed what the
 * read must see (this instance's last answered write of the app, and a position the client sent
 * back), else on the primary. Without replicas every read goes to the primary and no position is
 * kept.
 */
import type pg from 'pg';
import { StoreError } from '../../model/errors.ts';
import type { ReplicaStats } from '../../model/store.ts';
import type { DedicatedClient, PostgresConnection } from './postgres-connection.ts';
import { SQL } from './postgres-queries.ts';
import { parsePosition, type ReplicaOptions, ReplicaSet } from './postgres-replicas.ts';

interface Position {
  value: bigint;
  text: string | undefined;
}

/**
 * A replica that has not replayed the schema yet (just after a migration, or a database made a moment
 * ago) has no such table or function: the primary has, so the read goes there.
 */
const schemaNotReplayed = (error: StoreError) => {
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return code === '42P01' || code === '42883';
};

/** Past every position: an app whose last write's position is unknown reads from the primary. */
const UNKNOWN: Position = { value: 2n ** 64n, text: undefined };

export class PostgresReads {
  private readonly replicas: ReplicaSet | null;
  /** Per app, the position of this instance's last answered write. */
  private readonly written = new Map<number, Position>();

  constructor(
    private readonly primary: PostgresConnection,
    readUrls: string[],
    options: ReplicaOptions,
  ) {
    this.replicas = readUrls.length === 0 ? null : new ReplicaSet(readUrls, primary, options);
  }

  start(): Promise<void> {
    return this.replicas?.start() ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.replicas?.close() ?? Promise.resolve();
  }

  writePosition(appId: number): string | undefined {
    return this.written.get(appId)?.text;
  }

  stats(): ReplicaStats | undefined {
    return this.replicas?.snapshot();
  }

  /** The database a read of the app that must see `after` is served from. */
  async source(appId: number, after: string | undefined): Promise<PostgresConnection> {
    const position = this.mustSee(appId, after);
    if (!this.replicas || position === UNKNOWN.value) return this.primary;
    return this.replicas.choose(position);
  }

  /** A replica (or the primary) that failed to answer a read: skipped until sampled well again. */
  failed(source: PostgresConnection, error: Error): void {
    if (source !== this.primary) this.replicas?.failed(source, error);
  }

  /**
   * One read statement where `source` says (without replicas, straight on the primary). A replica
   * that fails to answer, or lacks the schema yet, leaves the read to the primary, with half the time left.
   */
  query<R extends pg.QueryResultRow>(
    appId: number,
    after: string | undefined,
    doing: string,
    sql: string,
    params: unknown[],
    deadline: number,
  ): Promise<pg.QueryResult<R>> {
    if (!this.replicas) return this.primary.query<R>(doing, sql, params, deadline);
    return this.onReplicas(appId, after, deadline, (source, until) => source.query<R>(doing, sql, params, until));
  }

  /**
   * A connection of its own for a long read (an export) of the app, where `source` says; a replica
   * that cannot give one leaves the read to the primary.
   */
  async dedicated(appId: number, after: string | undefined, doing: string): Promise<DedicatedClient> {
    const source = await this.source(appId, after);
    return source.dedicated(doing).catch((error: unknown) => {
      if (source === this.primary || !(error instanceof StoreError && error.unavailable)) throw error;
      this.failed(source, error);
      return this.primary.dedicated(doing);
    });
  }

  private async onReplicas<T>(
    appId: number,
    after: string | undefined,
    deadline: number,
    read: (source: PostgresConnection, deadline: number) => Promise<T>,
  ): Promise<T> {
    const source = await this.source(appId, after);
    if (source === this.primary) return read(this.primary, deadline);
    try {
      return await read(source, Date.now() + (deadline - Date.now()) / 2);
    } catch (error) {
      if (!(error instanceof StoreError && (error.unavailable || schemaNotReplayed(error)))) throw error;
      this.failed(source, error);
      return read(this.primary, deadline);
    }
  }

  /**
   * After a commit, with replicas: the primary's position now is at or past the commit, so a
   * replica that has replayed it shows the write. Unknown (the primary went away right after the
   * commit): the apps read from the primary until their next write.
   */
  async recordPositions(appIds: number[]): Promise<void> {
    if (!this.replicas) return;
    let position = UNKNOWN;
    try {
      const { rows } = await this.primary.query<{ position: string }>('read the WAL position', SQL.walPosition, []);
      position = { value: parsePosition(rows[0]!.position), text: rows[0]!.position };
    } catch {
      // Kept unknown: see above.
    }
    for (const appId of appIds) {
      const known = this.written.get(appId);
      if (!known || known === UNKNOWN || position === UNKNOWN || position.value > known.value) {
        this.written.set(appId, position);
      }
    }
  }

  /** What a read of the app must see: this instance's last write of it, and `after` if given. */
  private mustSee(appId: number, after: string | undefined): bigint | undefined {
    const own = this.written.get(appId)?.value;
    const sent = after === undefined ? undefined : parsePosition(after);
    if (own === undefined) return sent;
    return sent === undefined || own > sent ? own : sent;
  }
}
