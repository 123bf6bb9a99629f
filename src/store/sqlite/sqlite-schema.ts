/** The SQLite schema as numbered migrations, for the one runner (../migrations.ts). */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import {
  COMPATIBILITY_TABLE,
  type Migration,
  type MigrationConnection,
  type MigrationResult,
  type MigrationSet,
  type MigrationStatus,
  migrate,
  migrationStatus,
  schemaVersion,
} from '../migrations.ts';
import { SQL } from './sqlite-queries.ts';

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
  {
    version: 3,
    name: 'history, webhooks, idempotency, rate limits',
    sql: `
      ALTER TABLE apps ADD COLUMN webhook_url TEXT;
      ALTER TABLE apps ADD COLUMN webhook_secret TEXT;
      ALTER TABLE apps ADD COLUMN rate_limit_per_second REAL;
      ALTER TABLE apps ADD COLUMN rate_limit_burst INTEGER;
      -- Every change, written in the transaction that made it. at: Unix ms.
      CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        operator_type INTEGER NOT NULL,
        cause TEXT NOT NULL,
        token TEXT NOT NULL,
        account TEXT NOT NULL,
        account_type INTEGER NOT NULL,
        platform TEXT,
        op_type TEXT,
        op_id TEXT,
        request_id TEXT
      );
      CREATE INDEX history_by_app ON history (app_id, id);
      CREATE INDEX history_by_token ON history (app_id, token, id);
      CREATE INDEX history_by_account ON history (app_id, account, account_type, id);
      CREATE INDEX history_by_time ON history (at);
      -- The transactional outbox of webhook events; state: pending | delivered | failed.
      CREATE TABLE webhook_outbox (
        id INTEGER PRIMARY KEY,
        app_id INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
      );
      CREATE INDEX webhook_outbox_pending ON webhook_outbox (app_id, id) WHERE state = 'pending';
      CREATE INDEX webhook_outbox_by_time ON webhook_outbox (created_at);
      CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL,
        app_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        status INTEGER,
        error TEXT,
        duration_ms INTEGER NOT NULL
      );
      CREATE INDEX webhook_deliveries_by_app ON webhook_deliveries (app_id, id);
      CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (at);
      CREATE TABLE idempotency_keys (
        app_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (app_id, key)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);
    `,
  },
  {
    version: 4,
    name: 'covering account index',
    // With platform in it, "tokens of an account" is answered from the index alone: one B-tree seek.
    sql: `
      DROP INDEX bindings_by_account;
      CREATE INDEX bindings_by_account ON bindings (app_id, account, account_type, bound_at, platform);
    `,
  },
  {
    version: 5,
    name: 'app ids are never reused',
    // Without AUTOINCREMENT, SQLite gives a new row the largest id + 1: an app created right after
    // the newest one was deleted got its id, and the deleted app's cached credentials wrote into it.
    // AUTOINCREMENT never hands out an id twice (sqlite_sequence remembers the largest ever used).
    sql: `
      CREATE TABLE apps_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        access_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        secret_key TEXT NOT NULL,
        previous_secret_key TEXT,
        previous_secret_expires_at INTEGER,
        max_tokens_per_account INTEGER NOT NULL,
        max_accounts_per_token INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        revision INTEGER NOT NULL DEFAULT 0,
        webhook_url TEXT,
        webhook_secret TEXT,
        rate_limit_per_second REAL,
        rate_limit_burst INTEGER
      );
      INSERT INTO apps_v5 (id, access_id, name, secret_key, previous_secret_key, previous_secret_expires_at,
          max_tokens_per_account, max_accounts_per_token, created_at, revision, webhook_url, webhook_secret,
          rate_limit_per_second, rate_limit_burst)
        SELECT id, access_id, name, secret_key, previous_secret_key, previous_secret_expires_at,
          max_tokens_per_account, max_accounts_per_token, created_at, revision, webhook_url, webhook_secret,
          rate_limit_per_second, rate_limit_burst FROM apps;
      DROP TABLE apps;
      ALTER TABLE apps_v5 RENAME TO apps;
    `,
  },
  {
    version: 6,
    name: 'binding rules per app',
    sql: `ALTER TABLE apps ADD COLUMN binding_rules TEXT NOT NULL DEFAULT 'append'
        CHECK (binding_rules IN ('append', 'tpns'));`,
  },
  {
    version: 7,
    name: 'token lifecycle',
    // last_seen_at NULL means "when bound" (bound_at): binds and imports, by far the most writes, then
    // bind 6 parameters a row as before (10 cost imports 19%), and existing rows need no rewrite.
    // quarantined_at rides in the account index, so that leaving quarantined tokens out of a query
    // costs no lookup; a partial index finds what a sweep purges. last_seen_at is NOT indexed: every
    // bind moves it, and an index on it cost durable batchoperate 24% (BENCHMARKS.md); the expiry
    // sweep reads an app's bindings instead, only for apps with token_ttl_days.
    sql: `
      ALTER TABLE bindings ADD COLUMN last_seen_at INTEGER;
      ALTER TABLE bindings ADD COLUMN quarantined_at INTEGER;
      ALTER TABLE bindings ADD COLUMN quarantine_reason TEXT;
      ALTER TABLE bindings ADD COLUMN expiry_warned_at INTEGER;
      ALTER TABLE apps ADD COLUMN quarantine_days INTEGER NOT NULL DEFAULT 30;
      ALTER TABLE apps ADD COLUMN token_ttl_days INTEGER;
      ALTER TABLE apps ADD COLUMN expiry_warning_days INTEGER NOT NULL DEFAULT 7;
      DROP INDEX bindings_by_account;
      CREATE INDEX bindings_by_account
        ON bindings (app_id, account, account_type, bound_at, platform, quarantined_at);
      CREATE INDEX bindings_quarantined ON bindings (app_id, quarantined_at) WHERE quarantined_at IS NOT NULL;
    `,
  },
  {
    version: 8,
    name: 'history indexes by slice of ids',
    // Led by the slice of 1,024 ids a change falls in (history-slices.ts), so that the entries of one
    // group commit share a few pages instead of two random pages each.
    sql: `
      DROP INDEX history_by_token;
      DROP INDEX history_by_account;
      CREATE INDEX history_by_token ON history (app_id, (id >> 10), token, id);
      CREATE INDEX history_by_account ON history (app_id, (id >> 10), account, account_type, id);
    `,
  },
  {
    version: 9,
    name: 'what a rewind needs',
    // created: whether a bind made the binding or refreshed it (NULL: not a bind, or written by an
    // older release). history_from: when the app's history became complete; an existing app's is
    // now, since older releases did not record imports. Both nullable: the previous release, which
    // names its columns, goes on writing beside this one.
    sql: `
      ALTER TABLE history ADD COLUMN created INTEGER;
      ALTER TABLE apps ADD COLUMN history_from INTEGER;
      UPDATE apps SET history_from = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
    `,
  },
  {
    version: 10,
    name: 'schema compatibility',
    // The lowest schema version whose code may use this database (../migrations.ts): 1 until a
    // migration that contracts the schema says otherwise.
    sql: COMPATIBILITY_TABLE,
  },
  {
    version: 11,
    name: 'sealed secrets',
    // Changes no table: from this version on, the apps' secret columns may hold values sealed under
    // BINDERY_SECRETS_KEY (../secret-box.ts). The first one sealed raises oldest_reader to this
    // version, so that a release that cannot open them refuses the database instead of failing
    // every signature.
    sql: 'SELECT 1',
  },
];

/** The schema version from which code opens sealed secrets (replaceStoredSecret). */
export const SQLITE_SEALED_SECRETS = 11;

export const SQLITE_SCHEMA_VERSION = schemaVersion(SQLITE_MIGRATIONS);
const SET: MigrationSet = { migrations: SQLITE_MIGRATIONS, compatibilityFrom: 10 };

/**
 * BEGIN IMMEDIATE: two processes starting at once must not both migrate. `before` runs when an
 * existing file has migrations to apply, before any is (the store copies the file there).
 */
export function migrateSqlite(db: Database.Database, before?: (from: number) => void): Promise<MigrationResult> {
  const connection: MigrationConnection = {
    async exclusive(work) {
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work();
        db.exec('COMMIT');
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
    },
    script: (sql) => void db.exec(sql),
    query: <R>(sql: string, params: unknown[]) => {
      const statement = db.prepare(sql);
      if (statement.reader) return statement.all(...params) as R[];
      statement.run(...params);
      return [];
    },
  };
  return migrate(connection, SQL, SET, before);
}

/** Applied and pending migrations of the file, read on a read-only connection; a missing file has none applied. */
export async function sqliteMigrationStatus(file: string): Promise<MigrationStatus> {
  if (!existsSync(file)) return migrationStatus({ query: () => [] }, SQL, SET, false);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const exists = (db.prepare(SQL.schemaExists).get() as { found: number }).found === 1;
    return await migrationStatus({ query: <R>(sql: string) => db.prepare(sql).all() as R[] }, SQL, SET, exists);
  } finally {
    db.close();
  }
}
