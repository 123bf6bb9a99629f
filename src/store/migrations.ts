/**
 * The one migration runner: numbered migrations applied in order, each recorded in
 * schema_migrations, all in one transaction that no other process migrates beside. A database
 * migrated by a newer bindery is refused rather than misread. Each dialect brings its migrations,
 * its statements (named in its queries file) and a connection (sqlite-schema.ts, postgres-schema.ts).
 */

import type { Awaitable } from '../model/batch-transaction.ts';
import { StoreError } from '../model/errors.ts';

export interface Migration {
  version: number;
  name: string;
  /** One or more statements. */
  sql: string;
}

/** The record table and its two statements, in the dialect's words. */
export interface MigrationStatements {
  migrationsTable: string;
  /** One row with `v`: the highest version recorded, or null. */
  migrationsVersion: string;
  /** Parameters: version, name, applied_at (Unix ms). */
  migrationRecord: string;
}

export interface MigrationConnection {
  /** Runs `work` in one transaction that no other migrator runs beside, and commits it. */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
  /** Statements without parameters (a migration's body). */
  script(sql: string): Awaitable<void>;
  /** One statement with parameters; the rows it returns. */
  query<R>(sql: string, params: unknown[]): Awaitable<R[]>;
}

export const schemaVersion = (migrations: readonly Migration[]): number => migrations.at(-1)?.version ?? 0;

/** Applies the missing migrations; returns the versions applied. */
export function migrate(
  db: MigrationConnection,
  sql: MigrationStatements,
  migrations: readonly Migration[],
): Promise<number[]> {
  const known = schemaVersion(migrations);
  return db.exclusive(async () => {
    await db.script(sql.migrationsTable);
    const [row] = await db.query<{ v: number | null }>(sql.migrationsVersion, []);
    const from = Number(row?.v ?? 0);
    if (from > known) {
      throw new StoreError(
        `the database is at schema version ${from}, newer than this bindery knows (${known}): ` +
          'upgrade bindery, or point BINDERY_DATABASE_URL at another database',
      );
    }
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      await db.script(migration.sql);
      await db.query(sql.migrationRecord, [migration.version, migration.name, Date.now()]);
      applied.push(migration.version);
    }
    return applied;
  });
}
