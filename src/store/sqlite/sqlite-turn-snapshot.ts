/**
 * The reads of one event-loop turn on the main connection share one read transaction. Beginning and
 * ending a WAL read transaction (SQLite's read-mark lock and checks: fcntl and fstat calls) cost as
 * much as the indexed look-up of a TPNS query itself: 13.3 µs a look-up, 6.4 µs inside one
 * transaction (BENCHMARKS.md). Under load one turn answers many queries.
 *
 * What a read can see does not change:
 * - this process's writes: the writer thread's answer ends the shared transaction (end()) before
 *   anyone is told of the commit, so a read after an acknowledged write sees it;
 * - another process's commit (the CLI on the same file): a transaction lives until the end of the
 *   turn (setImmediate) and never longer than MAX_AGE_MS, so a read that starts later than that after
 *   the commit sees it. A request that arrives in a later turn gets a new snapshot;
 * - several statements of one read (a query of many keys) see one committed state, as before.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../../model/errors.ts';

/** The oldest snapshot a read may be answered from (a turn that runs long, or began in setImmediate). */
export const MAX_AGE_MS = 1;

export class TurnSnapshot {
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private openedAt = 0;
  private endScheduled = false;
  private readonly endTurn = () => {
    this.endScheduled = false;
    this.end();
  };

  constructor(private readonly db: Database.Database) {
    this.begin = db.prepare('BEGIN');
    this.commit = db.prepare('COMMIT');
  }

  /** Runs `read` in the turn's read transaction, beginning it if there is none (or it is too old). */
  run<T>(read: () => T): T {
    if (this.db.inTransaction && performance.now() - this.openedAt > MAX_AGE_MS) {
      this.end();
      // Never answer from a snapshot that should have ended.
      if (this.db.inTransaction) throw new StoreError('SQLite: the previous read transaction could not be ended', true);
    }
    if (!this.db.inTransaction) {
      this.begin.run();
      this.openedAt = performance.now();
      if (!this.endScheduled) {
        this.endScheduled = true;
        setImmediate(this.endTurn);
      }
    }
    return read();
  }

  /** Ends the shared transaction, if one is open: the next read sees every commit made until now. */
  end(): void {
    this.openedAt = Number.NEGATIVE_INFINITY; // if it cannot be ended now, run() tries again and refuses to read
    if (!this.db.open || !this.db.inTransaction) return;
    try {
      this.commit.run();
    } catch {
      try {
        this.db.exec('ROLLBACK'); // a read transaction has nothing to keep
      } catch {
        // Left open: run() ends it before the next read, or fails that read.
      }
    }
  }
}
