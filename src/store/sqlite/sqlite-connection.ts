/** Opening SQLite connections, and the statements of one prepared on first use. */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SQL } from './sqlite-queries.ts';

/** How a commit reaches the disk: FULL (the default) fsyncs it before it is answered; NORMAL does not. */
export type SqliteSynchronous = 'FULL' | 'NORMAL';

/**
 * `busyTimeoutMs`: how long a statement may wait for a lock. The writer thread may wait (it blocks
 * nobody else); the main thread's reads must not, since every tenant's requests wait with them (a
 * WAL reader is blocked only in rare moments, such as recovery after a failed write on a full disk).
 * `synchronous`: the writer's setting (a reader commits nothing).
 */
export function openSqliteConnection(
  path: string,
  busyTimeoutMs = 5000,
  synchronous: SqliteSynchronous = 'FULL',
): Database.Database {
  const db = new Database(path);
  for (const pragma of SQL.pragmas) db.pragma(pragma);
  if (synchronous === 'NORMAL') db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  return db;
}

/** A read-only connection of its own (an export's snapshot). */
export function openSqliteReader(path: string, busyTimeoutMs: number): Database.Database {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  return db;
}

/** Every named statement of sqlite-queries.ts. */
export type Statements = { [K in keyof typeof SQL]: (typeof SQL)[K] extends string ? Database.Statement : never };

/** Each statement is prepared once, on first use: the list of statements is SQL itself. */
export function lazyStatements(db: Database.Database): Statements {
  const prepared: Partial<Record<string, Database.Statement>> = {};
  return new Proxy(prepared, {
    get: (cache, name: string) => (cache[name] ??= db.prepare((SQL as Record<string, unknown>)[name] as string)),
  }) as Statements;
}

/** Device and inode of the file at `path`, or null when there is none. */
export function fileIdentity(path: string): string | null {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return null;
  }
}
