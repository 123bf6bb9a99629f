/**
 * Backups of the embedded store while it serves, and putting one in place.
 *
 * A backup is `VACUUM INTO` on a read-only connection of its own: one statement in one read
 * transaction, so the copy is the store as of one commit (WAL readers never block the writer, and
 * the writer never restarts the copy). SQLite's online backup API was the other candidate; it
 * copies page ranges in steps and starts over whenever another connection commits between two
 * steps, so under steady writes a large store might never finish, or it must copy in one step,
 * which is the same single read transaction without the compaction. The copy is checked
 * (`PRAGMA integrity_check`), made 0600, fsynced and only then renamed to its name: a file with
 * the backup's name is always a whole, checked backup.
 */
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../../model/errors.ts';
import { PRIVATE_FILE_MODE } from './sqlite-files.ts';
import { SQL } from './sqlite-queries.ts';

/** What a backup holds: when it was taken, each app's last revision and bindings, the store-wide position. */
export interface BackupSummary {
  file: string;
  /** ISO time the snapshot was taken (the read transaction began). */
  takenAt: string;
  bytes: number;
  seconds: number;
  integrity: 'ok';
  schemaVersion: number;
  /** The newest history entry's id and the last bind time (microseconds): where the store was. */
  lastHistoryId: number | null;
  lastBoundAt: number;
  apps: { accessId: string; revision: number; bindings: number }[];
  bindings: number;
}

const fsyncPath = (path: string, flags = 'r') => {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

/** Checks a database file and reads what it holds; throws a StoreError naming the file when it is not a sound bindery store. */
export function inspectBackup(file: string, taken?: { at: number; seconds: number }): BackupSummary {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new StoreError(`cannot open ${file}: ${(error as Error).message}`, false);
  }
  try {
    const problems = db
      .prepare(SQL.integrityCheck)
      .pluck()
      .all()
      .filter((line) => line !== 'ok');
    if (problems.length > 0)
      throw new StoreError(`${file} failed PRAGMA integrity_check: ${problems.slice(0, 3).join('; ')}`, false);
    let position: { lastHistoryId: number | null; lastBoundAt: number; schemaVersion: number };
    let apps: BackupSummary['apps'];
    try {
      position = db.prepare(SQL.backupPosition).get() as typeof position;
      apps = db.prepare(SQL.backupApps).all() as BackupSummary['apps'];
    } catch (error) {
      throw new StoreError(`${file} is not a bindery store: ${(error as Error).message}`, false);
    }
    return {
      file,
      takenAt: new Date(taken?.at ?? statSync(file).mtimeMs).toISOString(),
      bytes: statSync(file).size,
      seconds: taken?.seconds ?? 0,
      integrity: 'ok',
      schemaVersion: position.schemaVersion,
      lastHistoryId: position.lastHistoryId,
      lastBoundAt: position.lastBoundAt,
      apps,
      bindings: apps.reduce((sum, app) => sum + app.bindings, 0),
    };
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(`cannot read ${file}: ${(error as Error).message}`, false);
  } finally {
    db.close();
  }
}

/** Copies the store at `source` (live or not) to `dest`, which must not exist yet; checks the copy. */
export function backupSqlite(source: string, dest: string): BackupSummary {
  const target = resolve(dest);
  if (existsSync(target)) throw new StoreError(`${target} exists already: name a new file for the backup`, false);
  if (!existsSync(dirname(target))) throw new StoreError(`the folder ${dirname(target)} does not exist`, false);
  const partial = `${target}.partial-${process.pid}`;
  const started = Date.now();
  let db: Database.Database;
  try {
    db = new Database(resolve(source), { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new StoreError(`cannot open the store ${resolve(source)}: ${(error as Error).message}`, false);
  }
  try {
    // An empty file may be the target of VACUUM INTO: made first, so the copy is 0600 from its first byte.
    closeSync(openSync(partial, 'wx', PRIVATE_FILE_MODE));
    // A reader waits out a writer's rare exclusive moments (WAL recovery) rather than failing at once.
    db.pragma('busy_timeout = 10000');
    db.prepare(SQL.backupInto).run(partial);
  } catch (error) {
    rmSync(partial, { force: true });
    throw new StoreError(`the backup of ${resolve(source)} failed: ${(error as Error).message}`, false);
  } finally {
    db.close();
  }
  try {
    const summary = inspectBackup(partial, { at: started, seconds: (Date.now() - started) / 1000 });
    fsyncPath(partial);
    renameSync(partial, target);
    fsyncPath(dirname(target));
    return { ...summary, file: target };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    rmSync(`${partial}-journal`, { force: true });
  }
}

/**
 * Whether some connection (a running bindery, a CLI, any SQLite program) has `file` open: in WAL
 * mode every open connection holds a shared lock, so an exclusive one is refused at once.
 */
export function storeInUse(file: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { fileMustExist: true, timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw new StoreError(`cannot check whether ${file} is in use: ${(error as Error).message}`, false);
  } finally {
    db.close();
  }
}

export interface RestoreReport {
  restored: BackupSummary;
  /** Where the store that was replaced went; null when there was none. */
  replacedKeptAs: string | null;
}

/**
 * Puts the backup `from` in place of the store at `to`: refused while anything has that store open;
 * the replaced file is kept beside it (`<name>.replaced-<time>`), never deleted.
 */
export function restoreSqlite(from: string, to: string, now = new Date()): RestoreReport {
  const backup = resolve(from);
  const target = resolve(to);
  if (backup === target) throw new StoreError('the backup and the store are the same file', false);
  const restored = inspectBackup(backup);
  if (storeInUse(target))
    throw new StoreError(
      `${target} is open in another process (a running bindery?): stop it first, then restore`,
      false,
    );
  const incoming = `${target}.restoring-${process.pid}`;
  // On another machine the store's folder may not be there yet: bindery's own, 0700.
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  copyFileSync(backup, incoming);
  chmodSync(incoming, PRIVATE_FILE_MODE);
  let replacedKeptAs: string | null = null;
  try {
    fsyncPath(incoming);
    if (existsSync(target)) {
      replacedKeptAs = `${target}.replaced-${now.toISOString().replace(/[:.]/g, '-')}`;
      // After the check above no connection is open, so the last close folded the WAL into the file.
      renameSync(target, replacedKeptAs);
      for (const side of ['-wal', '-shm']) {
        if (existsSync(target + side)) renameSync(target + side, replacedKeptAs + side);
      }
    }
    renameSync(incoming, target);
    fsyncPath(dirname(target));
  } catch (error) {
    rmSync(incoming, { force: true });
    throw new StoreError(`could not put ${basename(backup)} in place: ${(error as Error).message}`, false);
  }
  // Opening the restored file as the server would: WAL mode and 0600, like every store bindery makes.
  const db = new Database(target);
  db.pragma('journal_mode = WAL');
  db.close();
  return { restored: { ...restored, file: target }, replacedKeptAs };
}

/** Where the copy of `file` taken before a migration from schema `from` goes. */
export const copyBeforeMigrating = (file: string, from: number): string => `${file}.schema-${from}.backup`;

const premigrationCopies = (file: string): string[] =>
  readdirSync(dirname(file))
    .filter((name) => name.startsWith(`${basename(file)}.schema-`) && name.endsWith('.backup'))
    .map((name) => join(dirname(file), name));

/**
 * Before a newer release migrates the store at `file` from schema `from`: a copy beside it, named
 * with that version; only the newest such copy is kept. Returns its name.
 *
 * A copy of the files, not a backup's `VACUUM INTO`: that rebuilds every index and then checks
 * them all, 14 minutes for 100,000,000 bindings (BENCHMARKS.md), during which the upgrade has not
 * started. `db` holds the write lock while the file and its WAL are copied, so no commit lands
 * between the two; a checkpoint may still move pages from the WAL into the file meanwhile, but it
 * writes only pages the copied WAL holds too, so the pair opens as the store at that commit. The
 * WAL is then folded into the copy, which becomes one file, as a backup is, and is read back.
 */
export function copyForMigration(db: Database.Database, file: string, from: number): string {
  const copy = copyBeforeMigrating(file, from);
  const fresh = `${copy}.new-${process.pid}`;
  const clear = () => {
    for (const leftover of [fresh, `${fresh}-wal`, `${fresh}-shm`]) rmSync(leftover, { force: true });
  };
  clear();
  try {
    db.exec('BEGIN IMMEDIATE');
    try {
      copyFileSync(file, fresh, constants.COPYFILE_FICLONE);
      if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${fresh}-wal`, constants.COPYFILE_FICLONE);
    } finally {
      db.exec('ROLLBACK');
    }
    chmodSync(fresh, PRIVATE_FILE_MODE);
    const copied = new Database(fresh);
    try {
      // Out of WAL mode (which folds the WAL in): one file, as a backup is; a restore turns WAL on again.
      copied.pragma('journal_mode = DELETE');
      const version = copied.prepare(SQL.migrationsVersion).pluck().get();
      if (version !== from) throw new Error(`the copy reads schema version ${version}, not ${from}`);
    } finally {
      copied.close();
    }
    fsyncPath(fresh);
    renameSync(fresh, copy);
    fsyncPath(dirname(copy));
  } catch (error) {
    clear();
    throw error;
  }
  for (const older of premigrationCopies(file)) if (older !== copy) rmSync(older, { force: true });
  return copy;
}

/** The way back from a store a newer release migrated, for the message that refuses it. */
export function wayBackFrom(file: string): string {
  const [copy] = premigrationCopies(file);
  return copy
    ? `run the release that migrated it, or go back to the copy taken before that upgrade: stop bindery, run ` +
        `\`bindery backup restore ${copy}\` and start this release again (what changed since the copy is not in it)`
    : 'run the release that migrated it, or restore a backup taken before that upgrade (`bindery backup restore FILE`)';
}
