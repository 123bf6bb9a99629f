/**
 * Read replicas (BINDERY_DATABASE_READ_URLS): which database serves a read. A replica serves it
 * only once it has replayed the position the read must see (this instance's last write of the
 * app, or a position the client sent back), waiting up to `waitMs` for it; one lagging more than
 * `maxLagMs`, unreachable, or no longer in recovery (promoted) is skipped; with none left the
 * primary serves. Positions are PostgreSQL WAL LSNs ("16/B374D848").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReplicaStats } from '../../model/store.ts';
import { PostgresConnection, type PostgresConnectionOptions } from './postgres-connection.ts';
import { SQL } from './postgres-queries.ts';

export function parsePosition(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

export interface ReplicaOptions extends PostgresConnectionOptions {
  /** How long a read may wait for a replica to replay the position it needs. */
  waitMs: number;
  /** A replica further behind than this is skipped. */
  maxLagMs: number;
  /** How often the replicas' positions and the primary's are sampled. */
  pollMs?: number;
}

interface Replica {
  name: string;
  db: PostgresConnection;
  replayed: bigint;
  lagMs: number | null;
  problem: string | null;
  waiters: { position: bigint; deadline: number; done: (caughtUp: boolean) => void }[];
  polling: boolean;
}

export class ReplicaSet {
  private readonly replicas: Replica[];
  /** The primary's position over the last moments, oldest first: how far behind a replica is, in time. */
  private samples: { position: bigint; at: number }[] = [];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly stats: Omit<ReplicaStats, 'replicas'> = {
    reads: { primary: 0, replica: 0 },
    fallbacks: { lagging: 0, waited: 0, unavailable: 0, beyond: 0 },
  };

  constructor(
    urls: string[],
    private readonly primary: PostgresConnection,
    private readonly options: ReplicaOptions,
  ) {
    this.replicas = urls.map((url, i) => ({
      name: `replica${i + 1}`,
      db: new PostgresConnection(url, { ...options, log: undefined }),
      replayed: 0n,
      lagMs: null,
      problem: 'not checked yet',
      waiters: [],
      polling: false,
    }));
  }

  /** Samples positions now and then every pollMs, until close(). */
  async start(): Promise<void> {
    await this.sample();
    const loop = async () => {
      await this.sample();
      if (!this.closed) this.timer = setTimeout(loop, this.options.pollMs ?? 100).unref();
    };
    this.timer = setTimeout(loop, this.options.pollMs ?? 100).unref();
  }

  /** The database that serves a read which must see `position` (if given). */
  async choose(position: bigint | undefined): Promise<PostgresConnection> {
    const fresh = this.replicas.filter((r) => r.problem === null && (r.lagMs ?? Infinity) <= this.options.maxLagMs);
    if (fresh.length === 0) {
      const why = this.replicas.some((r) => r.problem === null) ? 'lagging' : 'unavailable';
      return this.onPrimary(why);
    }
    const start = this.next++ % fresh.length;
    const inTurn = [...fresh.slice(start), ...fresh.slice(0, start)];
    const ready = position === undefined ? inTurn[0] : inTurn.find((r) => r.replayed >= position);
    if (ready) return this.onReplica(ready);
    // A position past what the primary has written (a client's mistake, or a made-up one) no replica
    // will reach: the primary serves it at once rather than after the wait.
    if (await this.beyondPrimary(position!)) return this.onPrimary('beyond');
    const first = inTurn[0]!;
    if (await this.caughtUp(first, position!, Date.now() + this.options.waitMs)) return this.onReplica(first);
    return this.onPrimary('waited');
  }

  /** A read on this replica failed for want of it: skipped until a sample finds it well again. */
  failed(db: PostgresConnection, error: Error): void {
    const replica = this.replicas.find((r) => r.db === db);
    if (replica) replica.problem = `unreachable: ${error.message}`;
    this.stats.fallbacks.unavailable++;
  }

  snapshot(): ReplicaStats {
    return {
      ...this.stats,
      replicas: this.replicas.map((r) => ({
        name: r.name,
        lagMs: r.lagMs,
        usable: r.problem === null,
        problem: r.problem,
      })),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const r of this.replicas) for (const w of r.waiters.splice(0)) w.done(false);
    await Promise.all(this.replicas.map((r) => r.db.close()));
  }

  private onReplica(replica: Replica): PostgresConnection {
    this.stats.reads.replica++;
    return replica.db;
  }

  private onPrimary(why: keyof ReplicaStats['fallbacks']): PostgresConnection {
    this.stats.fallbacks[why]++;
    this.stats.reads.primary++;
    return this.primary;
  }

  /** Resolves true once the replica has replayed `position`, false at the deadline. One poller per replica. */
  private caughtUp(replica: Replica, position: bigint, deadline: number): Promise<boolean> {
    return new Promise((done) => {
      replica.waiters.push({ position, deadline, done });
      if (!replica.polling) void this.pollWaiters(replica);
    });
  }

  private async pollWaiters(replica: Replica): Promise<void> {
    replica.polling = true;
    try {
      while (replica.waiters.length > 0 && !this.closed) {
        await this.readReplica(replica, Math.min(...replica.waiters.map((w) => w.deadline)));
        const now = Date.now();
        replica.waiters = replica.waiters.filter((w) => {
          const caughtUp = replica.problem === null && replica.replayed >= w.position;
          if (caughtUp || now >= w.deadline || replica.problem !== null) w.done(caughtUp);
          return !(caughtUp || now >= w.deadline || replica.problem !== null);
        });
        if (replica.waiters.length > 0) await sleep(1);
      }
    } finally {
      replica.polling = false;
    }
  }

  /**
   * Whether `position` is past the primary's own: asked of the primary only when it is past the
   * newest sample (a real position is at or behind the primary's, so this is rare); unknown (the
   * primary away) counts as not past.
   */
  private async beyondPrimary(position: bigint): Promise<boolean> {
    const newest = this.samples.at(-1)?.position;
    if (newest !== undefined && position <= newest) return false;
    try {
      const { rows } = await this.primary.query<{ position: string }>('read the WAL position', SQL.walPosition, []);
      const now = parsePosition(rows[0]!.position);
      this.samples.push({ position: now, at: Date.now() });
      return position > now;
    } catch {
      return false;
    }
  }

  private async sample(): Promise<void> {
    try {
      const { rows } = await this.primary.query<{ position: string }>('read the WAL position', SQL.walPosition, []);
      const now = Date.now();
      this.samples.push({ position: parsePosition(rows[0]!.position), at: now });
      // Enough history to measure any lag up to twice the limit.
      const keepFrom = now - 2 * this.options.maxLagMs - 1000;
      while (this.samples.length > 1 && this.samples[0]!.at < keepFrom) this.samples.shift();
    } catch {
      // The primary away: replicas are still measured against what was sampled before.
    }
    await Promise.all(this.replicas.map((r) => this.readReplica(r, Date.now() + this.options.timeoutMs)));
  }

  private async readReplica(replica: Replica, deadline: number): Promise<void> {
    try {
      const { rows } = await replica.db.query<{ recovering: boolean; replayed: string | null }>(
        'read the replay position',
        SQL.replayPosition,
        [],
        deadline,
      );
      const row = rows[0]!;
      if (!row.recovering || row.replayed === null) {
        // Promoted (or never a replica): it no longer follows the primary bindery writes to.
        replica.problem = 'not in recovery: not a replica of the primary';
        replica.lagMs = null;
        return;
      }
      replica.replayed = parsePosition(row.replayed);
      replica.problem = null;
      // The oldest sampled position of the primary the replica has not replayed: how old its view is.
      const behind = this.samples.find((s) => s.position > replica.replayed);
      replica.lagMs = behind ? Date.now() - behind.at : 0;
    } catch (error) {
      replica.problem = `unreachable: ${(error as Error).message}`;
      replica.lagMs = null;
    }
  }
}
