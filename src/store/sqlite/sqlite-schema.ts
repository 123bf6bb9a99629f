/**
 * SQLite schema as numbered migrations, applied in order under an exclusive write lock and recorded
 * in schema_migrations. A database migrated by a newer bindery is refused rather than misread.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../../errors.ts';

interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'apps and bindings',
    sql: `
      CREATE TABLE apps (
        id INTEGER PRIMARY KEY,
        access_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        secret_key TEXT NOT NULL,
        previous_secret_key TEXT,
        previous_secret_expires_at INTEGER,
        max_tokens_per_account INTEGER NOT NULL,
        max_accounts_per_token INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      -- bound_at: microseconds since the epoch, strictly increasing per store (the bind-time order).
      CREATE TABLE bindings (
        app_id INTEGER NOT NULL,
        token TEXT NOT NULL,
        account TEXT NOT NULL,
        account_type INTEGER NOT NULL,
        platform TEXT,
        bound_at INTEGER NOT NULL,
        PRIMARY KEY (app_id, token, account, account_type)
      ) WITHOUT ROWID;
      -- Covers "tokens of an account, oldest first" (the primary key columns ride along).
      CREATE INDEX bindings_by_account ON bindings (app_id, account, account_type, bound_at);
      CREATE TABLE bind_clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_bound_at INTEGER NOT NULL
      );
      INSERT INTO bind_clock (id, last_bound_at) VALUES (1, 0);
    `,
  },
  {
    version: 2,
    name: 'app write revision',
    sql: 'ALTER TABLE apps ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;',
  },
];

export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.at(-1)?.version ?? 0;

export function migrateSqlite(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const current = () => (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  const run = db.transaction(() => {
    const from = current();
    if (from > SQLITE_SCHEMA_VERSION) {
      throw new StoreError(
        `the database is at schema version ${from}, newer than this bindery knows (${SQLITE_SCHEMA_VERSION}): ` +
          'upgrade bindery, or point BINDERY_DATABASE_URL at another database',
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of SQLITE_MIGRATIONS) {
      if (migration.version <= from) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
    }
  });
  // IMMEDIATE: two processes starting at once must not both migrate.
  run.immediate();
}
