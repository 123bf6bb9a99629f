/**
 * The one migration runner: numbered migrations applied in order, each recorded in
 * schema_migrations, all in one transaction that no other process migrates beside. Each dialect
 * brings its migrations, its statements (named in its queries file) and a connection
 * (sqlite-schema.ts, postgres-schema.ts).
 *
 * The rule every migration keeps (ARCHITECTURE.md, "Schema changes"): the previous release's code
 * works on the schema it leaves. So a database migrated by a newer release is used, not refused,
 * unless one of the newer migrations said otherwise: a migration that contracts the schema (drops or
 * renames what older code reads) names the oldest schema version whose code still works after it,
 * and the database keeps that number (schema_compatibility). Flyway calls these "future migrations".
 */

import type { Awaitable } from '../model/batch-transaction.ts';
import { StoreError } from '../model/errors.ts';

export interface Migration {
  version: number;
  name: string;
  /** One or more statements. */
  sql: string;
  /**
   * Only on a migration that contracts the schema, in a release after the one that stopped reading
   * what it drops: the lowest schema version whose code still works on the database after it.
   * Without it, every release that worked on the database before still does.
   */
  oldestReader?: number;
}

/** The record tables and their statements, in the dialect's words. */
export interface MigrationStatements {
  migrationsTable: string;
  /** One row with `v`: the highest version recorded, or null. */
  migrationsVersion: string;
  /** Parameters: version, name, applied_at (Unix ms). */
  migrationRecord: string;
  /** Every record, oldest first: version, name, applied_at. */
  migrationsApplied: string;
  /** One row with `v`: the lowest schema version whose code may use the database. */
  oldestReader: string;
  /** Parameter: that version. */
  oldestReaderRecord: string;
}

export interface MigrationConnection {
  /** Runs `work` in one transaction that no other migrator runs beside, and commits it. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Statements without parameters (a migration's body). */
  script(sql: string): Awaitable<void>;
  /** One statement with parameters; the rows it returns. */
  query<R>(sql: string, params: unknown[]): Awaitable<R[]>;
}

/** A dialect's migrations. */
export interface MigrationSet {
  migrations: readonly Migration[];
  /** The version of the migration that creates schema_compatibility. */
  compatibilityFrom: number;
}

/**
 * The table that keeps the oldest schema version whose code may use the database: 1 until a
 * migration that contracts the schema says otherwise. The same text in both dialects (SQLite's
 * migration 10, PostgreSQL's 9).
 */
export const COMPATIBILITY_TABLE = `
      CREATE TABLE schema_compatibility (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        oldest_reader INTEGER NOT NULL
      );
      INSERT INTO schema_compatibility (id, oldest_reader) VALUES (1, 1);
    `;

export const schemaVersion = (migrations: readonly Migration[]): number => migrations.at(-1)?.version ?? 0;

export interface MigrationResult {
  /** The version the database was at (0: a new database; above this code's: a newer release migrated it). */
  from: number;
  /** The versions applied now. */
  applied: number[];
}

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: number;
}

export interface MigrationStatus {
  /** This code's version. */
  known: number;
  applied: AppliedMigration[];
  /** What this code would apply. */
  pending: Pick<Migration, 'version' | 'name'>[];
  /** What a newer release applied, which this code does not know; empty when none. */
  newer: AppliedMigration[];
  /** The lowest schema version whose code may use the database. */
  oldestReader: number;
}

/** A database a newer release migrated past what this code can use; the dialect adds the way back. */
export class SchemaTooNewError extends StoreError {
  override name = 'SchemaTooNewError';
  constructor(
    readonly at: number,
    readonly oldestReader: number,
    readonly known: number,
    wayBack = 'run the release that migrated it',
  ) {
    super(
      `the database is at schema version ${at}, and its migrations need code of schema ${oldestReader} or newer; ` +
        `this bindery knows schema ${known}: ${wayBack}`,
    );
  }
}

/** What is applied and pending, without changing anything; `exists` false: no schema_migrations yet. */
export async function migrationStatus(
  db: Pick<MigrationConnection, 'query'>,
  sql: MigrationStatements,
  set: MigrationSet,
  exists: boolean,
): Promise<MigrationStatus> {
  const known = schemaVersion(set.migrations);
  const applied = exists
    ? (await db.query<{ version: number; name: string; applied_at: number }>(sql.migrationsApplied, [])).map((r) => ({
        version: Number(r.version),
        name: r.name,
        appliedAt: Number(r.applied_at),
      }))
    : [];
  const done = new Set(applied.map((m) => m.version));
  const from = Math.max(0, ...done);
  return {
    known,
    applied: applied.filter((m) => m.version <= known),
    pending: set.migrations.filter((m) => !done.has(m.version)).map(({ version, name }) => ({ version, name })),
    newer: applied.filter((m) => m.version > known),
    oldestReader: from >= set.compatibilityFrom ? await readOldestReader(db, sql) : 1,
  };
}

async function readOldestReader(db: Pick<MigrationConnection, 'query'>, sql: MigrationStatements): Promise<number> {
  const [row] = await db.query<{ v: number | null }>(sql.oldestReader, []);
  return Number(row?.v ?? 1);
}

/**
 * Applies the missing migrations; a `from` above this code's version means a newer release migrated
 * it (and keeps this one working). `before(from)` runs first when an existing database has some to
 * apply, outside the transaction (SQLite's copy of the file).
 */
export async function migrate(
  db: MigrationConnection,
  sql: MigrationStatements,
  set: MigrationSet,
  before?: (from: number) => Awaitable<void>,
): Promise<MigrationResult> {
  const known = schemaVersion(set.migrations);
  if (before) {
    await db.script(sql.migrationsTable);
    const [row] = await db.query<{ v: number | null }>(sql.migrationsVersion, []);
    const from = Number(row?.v ?? 0);
    if (from > 0 && from < known) await before(from);
  }
  return db.exclusive(async () => {
    await db.script(sql.migrationsTable);
    const [row] = await db.query<{ v: number | null }>(sql.migrationsVersion, []);
    const from = Number(row?.v ?? 0);
    if (from > known) {
      const oldestReader = await readOldestReader(db, sql);
      if (oldestReader > known) throw new SchemaTooNewError(from, oldestReader, known);
      return { from, applied: [] };
    }
    const applied: number[] = [];
    let oldestReader = 0;
    for (const migration of set.migrations) {
      if (migration.version <= from) continue;
      await db.script(migration.sql);
      await db.query(sql.migrationRecord, [migration.version, migration.name, Date.now()]);
      applied.push(migration.version);
      oldestReader = Math.max(oldestReader, migration.oldestReader ?? 0);
    }
    if (oldestReader > 0) await db.query(sql.oldestReaderRecord, [oldestReader]);
    return { from, applied };
  });
}

/** The log line a migration result deserves, if any: what was applied, or that a newer release migrated. */
export function migrationNews(
  result: MigrationResult,
  known: number,
): { level: 'info' | 'warn'; message: string } | undefined {
  if (result.from > known) {
    return {
      level: 'warn',
      message:
        `the database is at schema version ${result.from}, newer than this release's ${known}: a newer ` +
        'release migrated it, and its migrations keep this release working; upgrade this instance when you can',
    };
  }
  if (result.applied.length === 0) return undefined;
  return {
    level: 'info',
    message:
      result.from === 0
        ? `created the schema (version ${known})`
        : `migrated the schema from version ${result.from} to ${known} (applied ${result.applied.join(', ')})`,
  };
}
