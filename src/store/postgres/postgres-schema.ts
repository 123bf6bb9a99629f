/** The PostgreSQL schema as numbered migrations, for the one runner (../migrations.ts). */
import type { PoolClient } from 'pg';
import { StoreError } from '../../model/errors.ts';
import {
  COMPATIBILITY_TABLE,
  type Migration,
  type MigrationResult,
  type MigrationSet,
  type MigrationStatus,
  migrate,
  migrationStatus,
  schemaVersion,
} from '../migrations.ts';
import { DedicatedClient } from './postgres-connection.ts';
import { FUNCTIONS, SQL } from './postgres-queries.ts';

/** Any constant shared by every bindery: the key of the advisory lock that guards migrations. */
const MIGRATION_LOCK_KEY = 0x62696e64; // "bind"

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'apps and bindings',
    // COLLATE "C": bytewise order, the same as SQLite's, for keyset pages; and the fastest comparisons.
    sql: `
      CREATE TABLE apps (
        id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        access_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        secret_key TEXT NOT NULL,
        previous_secret_key TEXT,
        previous_secret_expires_at BIGINT,
        max_tokens_per_account INTEGER NOT NULL,
        max_accounts_per_token INTEGER NOT NULL,
        created_at BIGINT NOT NULL,
        revision BIGINT NOT NULL DEFAULT 0,
        last_bound_at BIGINT NOT NULL DEFAULT 0
      );
      CREATE TABLE bindings (
        app_id INTEGER NOT NULL,
        token TEXT COLLATE "C" NOT NULL,
        account TEXT COLLATE "C" NOT NULL,
        account_type INTEGER NOT NULL,
        platform TEXT,
        bound_at BIGINT NOT NULL,
        PRIMARY KEY (app_id, token, account, account_type)
      );
      CREATE INDEX bindings_by_account ON bindings (app_id, account, account_type, bound_at);
    `,
  },
  {
    version: 2,
    name: 'history, webhooks, idempotency, rate limits',
    sql: `
      ALTER TABLE apps ADD COLUMN webhook_url TEXT, ADD COLUMN webhook_secret TEXT,
        ADD COLUMN rate_limit_per_second DOUBLE PRECISION, ADD COLUMN rate_limit_burst INTEGER;
      CREATE TABLE history (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        app_id INTEGER NOT NULL,
        at BIGINT NOT NULL,
        operator_type INTEGER NOT NULL,
        cause TEXT NOT NULL,
        token TEXT COLLATE "C" NOT NULL,
        account TEXT COLLATE "C" NOT NULL,
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
      CREATE TABLE webhook_outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        app_id INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
      );
      CREATE INDEX webhook_outbox_pending ON webhook_outbox (app_id, id) WHERE state = 'pending';
      CREATE INDEX webhook_outbox_by_time ON webhook_outbox (created_at);
      CREATE TABLE webhook_deliveries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id BIGINT NOT NULL,
        app_id INTEGER NOT NULL,
        at BIGINT NOT NULL,
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
        created_at BIGINT NOT NULL,
        PRIMARY KEY (app_id, key)
      );
      CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);
    `,
  },
  {
    version: 3,
    name: 'covering account index',
    // Index-only scans for "tokens of an account" (given a vacuumed visibility map).
    sql: `
      DROP INDEX bindings_by_account;
      CREATE INDEX bindings_by_account ON bindings (app_id, account, account_type, bound_at) INCLUDE (token, platform);
    `,
  },
  {
    version: 4,
    name: 'binding rules per app',
    sql: `ALTER TABLE apps ADD COLUMN binding_rules TEXT NOT NULL DEFAULT 'append'
        CHECK (binding_rules IN ('append', 'tpns'));`,
  },
  {
    version: 5,
    name: 'token lifecycle',
    // As SQLite's migration 7: last_seen_at NULL when it is the bind time, and not indexed; quarantined_at
    // in the account index (the query answers leave quarantined tokens out without a lookup); a partial
    // index for the purge.
    sql: `
      ALTER TABLE bindings ADD COLUMN last_seen_at BIGINT, ADD COLUMN quarantined_at BIGINT,
        ADD COLUMN quarantine_reason TEXT, ADD COLUMN expiry_warned_at BIGINT;
      ALTER TABLE apps ADD COLUMN quarantine_days INTEGER NOT NULL DEFAULT 30, ADD COLUMN token_ttl_days INTEGER,
        ADD COLUMN expiry_warning_days INTEGER NOT NULL DEFAULT 7;
      DROP INDEX bindings_by_account;
      CREATE INDEX bindings_by_account ON bindings (app_id, account, account_type, bound_at)
        INCLUDE (token, platform, quarantined_at);
      CREATE INDEX bindings_quarantined ON bindings (app_id, quarantined_at) WHERE quarantined_at IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: 'history indexes by slice of ids',
    // As SQLite's migration 8 (../history-slices.ts): the entries of one group commit share a few pages
    // of each index instead of two random pages each, which a default shared_buffers could not hold.
    sql: `
      DROP INDEX history_by_token;
      DROP INDEX history_by_account;
      CREATE INDEX history_by_token ON history (app_id, (id >> 10), token, id);
      CREATE INDEX history_by_account ON history (app_id, (id >> 10), account, account_type, id);
    `,
  },
  {
    version: 7,
    name: 'one-key query answers as functions',
    // The functions' text is with the statements that call them (postgres-queries.ts FUNCTIONS).
    sql: `${FUNCTIONS.tokensOfAccount};\n${FUNCTIONS.accountsOfToken};`,
  },
  {
    version: 8,
    name: 'what a rewind needs',
    // As SQLite's migration 9 (sqlite-schema.ts): nullable, so the previous release writes on beside it.
    sql: `
      ALTER TABLE history ADD COLUMN created BOOLEAN;
      ALTER TABLE apps ADD COLUMN history_from BIGINT;
      UPDATE apps SET history_from = (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    `,
  },
  {
    version: 9,
    name: 'schema compatibility',
    // As SQLite's migration 10: the lowest schema version whose code may use this database.
    sql: COMPATIBILITY_TABLE,
  },
  {
    version: 10,
    name: 'sealed secrets',
    // As SQLite's migration 11: changes no table; the first secret sealed raises oldest_reader to it.
    sql: 'SELECT 1',
  },
];

/** The schema version from which code opens sealed secrets (replaceStoredSecret). */
export const POSTGRES_SEALED_SECRETS = 10;

export const POSTGRES_SCHEMA_VERSION = schemaVersion(POSTGRES_MIGRATIONS);
const SET: MigrationSet = { migrations: POSTGRES_MIGRATIONS, compatibilityFrom: 9 };

/**
 * How long a migration's statement waits for a table lock, attempt by attempt: a lock it waits for
 * queues every other instance's reads and writes of that table behind it, so it gives up soon,
 * rolls back and tries again (GitLab's "lock retries"). After the last, the start fails.
 */
export const LOCK_ATTEMPTS_MS: readonly number[] = [50, 100, 200, 400, 800, 1000, 1000, 2000, 2000, 5000, 5000];
const LOCK_NOT_AVAILABLE = '55P03';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Under an advisory transaction lock, so that instances starting together migrate once; each
 * statement waits at most the attempt's lock_timeout for a lock (LOCK_ATTEMPTS_MS).
 */
export async function migratePostgres(
  client: PoolClient,
  log?: { warn(message: string): void },
  attempts: readonly number[] = LOCK_ATTEMPTS_MS,
): Promise<MigrationResult> {
  for (let attempt = 0; ; attempt++) {
    const timeout = attempts[Math.min(attempt, attempts.length - 1)] ?? 1000;
    try {
      return await migrate(
        {
          async exclusive(work) {
            await client.query('BEGIN');
            try {
              await client.query(SQL.migrationsLock, [MIGRATION_LOCK_KEY]);
              await client.query(SQL.lockTimeout, [`${timeout}ms`]);
              const result = await work();
              await client.query('COMMIT');
              return result;
            } catch (error) {
              await client.query('ROLLBACK').catch(() => undefined);
              throw error;
            }
          },
          script: async (sql) => void (await client.query(sql)),
          query: async <R>(sql: string, params: unknown[]) => (await client.query(sql, params)).rows as R[],
        },
        SQL,
        SET,
      );
    } catch (error) {
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
      if (attempt + 1 >= attempts.length) {
        throw new StoreError(
          `a migration waited for a table lock ${attempts.length} times (up to ${timeout} ms each) and gave up: ` +
            'a long transaction holds the table; find it in pg_stat_activity (state, xact_start), end it, and start again',
          true,
          { cause: error },
        );
      }
      log?.warn(
        `a migration waited ${timeout} ms for a table lock and rolled back; trying again (attempt ${attempt + 2})`,
      );
      await sleep(timeout);
    }
  }
}

/** Applied and pending migrations of the database at `url`, without changing anything. */
export async function postgresMigrationStatus(url: string, timeoutMs: number): Promise<MigrationStatus> {
  const client = await DedicatedClient.open(url, 'read the migrations', timeoutMs, () => undefined);
  try {
    const [row] = await client.query<{ found: boolean }>(SQL.schemaExists);
    return await migrationStatus(
      { query: async <R>(sql: string, params: unknown[]) => (await client.query(sql, params)) as R[] },
      SQL,
      SET,
      row?.found === true,
    );
  } finally {
    await client.close();
  }
}

/** Whether the database at `url` has bindery's schema (any version), without changing anything. */
export async function hasPostgresSchema(url: string, timeoutMs: number): Promise<boolean> {
  const client = await DedicatedClient.open(url, 'look for the schema', timeoutMs, () => undefined);
  try {
    const [row] = await client.query<{ found: boolean }>(SQL.schemaExists);
    return row?.found === true;
  } finally {
    await client.close();
  }
}
