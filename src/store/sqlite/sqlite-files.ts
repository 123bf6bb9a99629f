/**
 * The database file's place and modes. It holds every app's SecretKey, so it is readable by
 * bindery's user alone whatever the umask: the folder bindery creates for it is 0700, the file
 * 0600. SQLite gives its -wal and -shm files the database file's mode; those left by an earlier
 * release (0644) are tightened too.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates the folder (0700) and the file (0600) if missing, and makes the file and its companions 0600. */
export function prepareDatabaseFile(file: string): void {
  const dir = dirname(file);
  if (!existsSync(dir)) {
    // Folders that are not there yet are bindery's: each one made here is 0700, not 0700 & ~umask.
    const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    for (let made = dir; first !== undefined; made = dirname(made)) {
      chmodSync(made, PRIVATE_DIR_MODE);
      if (made === first) break;
    }
  }
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    if (existsSync(path)) chmodSync(path, PRIVATE_FILE_MODE);
  }
}

/**
 * Rewrites the file without its free space (VACUUM) and empties the WAL, so that no copy of a value
 * replaced in place stays readable in a freed cell or an old frame: after secrets are first sealed.
 */
export function dropFreedSpace(db: Database.Database): void {
  db.exec('VACUUM');
  db.pragma('wal_checkpoint(TRUNCATE)');
}
