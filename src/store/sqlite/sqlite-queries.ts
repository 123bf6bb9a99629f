/** Every SQL statement of the SQLite store, named. Row shapes are in ../rows.ts. */
import type { Queries, SqliteOwn } from '../queries.ts';
import { BINDING_COLUMNS } from '../rows.ts';

/** The upsert's conflict clause: every column but the key takes the new value. */
const UPSERT_SET = `ON CONFLICT (app_id, token, account, account_type) DO UPDATE SET platform = excluded.platform,
      bound_at = excluded.bound_at, last_seen_at = excluded.last_seen_at, quarantined_at = excluded.quarantined_at,
      quarantine_reason = excluded.quarantine_reason, expiry_warned_at = excluded.expiry_warned_at`;
const BINDING_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** An upsert of a plain binding (rows.ts isPlain): its lifecycle columns become NULL. */
const PLAIN_COLUMNS = 'app_id, token, account, account_type, platform, bound_at';
const PLAIN_ROW = '(?, ?, ?, ?, ?, ?)';
const PLAIN_SET = `ON CONFLICT (app_id, token, account, account_type) DO UPDATE SET platform = excluded.platform,
      bound_at = excluded.bound_at, last_seen_at = NULL, quarantined_at = NULL, quarantine_reason = NULL,
      expiry_warned_at = NULL`;

/** The changes matching `where` in a range of slices (history-slices.ts), newest first; `id >> 10` is the index's. */
function historyOfSlices(index: string, where: string): string {
  return `WITH RECURSIVE slice(n) AS (SELECT ? UNION ALL SELECT n - 1 FROM slice WHERE n > ?)
      SELECT h.* FROM slice CROSS JOIN history h INDEXED BY ${index}
      WHERE h.app_id = ? AND (h.id >> 10) = slice.n AND ${where} AND h.id < ? ORDER BY h.id DESC LIMIT ?`;
}

/** Rows per statement of bindingsUpsert. */
export const UPSERT_ROWS = 50;

/**
 * Keys per statement of bindingsOfTokens and bindingsOfAccounts; fewer keys fill the list by
 * repeating the last (an IN list ignores repeats). One statement for a batch's 20 tokens took
 * half the time of 20 statements of one key (a million bindings; docs/benchmarks-log.md).
 */
export const LOAD_KEYS = 32;

export const SQL = {
  // wal_autocheckpoint 10000 pages (~40 MB): fewer, larger checkpoints; measured +25% durable writes (BENCHMARKS.md).
  // temp_store MEMORY: each batch of a group commit runs in a savepoint, whose journal of the pages it first
  // changes was a temporary file written with pwrite (8.5% of the writer's time in a profile; BENCHMARKS.md).
  pragmas: [
    'journal_mode = WAL',
    'synchronous = FULL',
    'foreign_keys = OFF',
    'wal_autocheckpoint = 10000',
    'temp_store = MEMORY',
  ],

  appByAccessId: 'SELECT * FROM apps WHERE access_id = ?',
  appById: 'SELECT * FROM apps WHERE id = ?',
  appsAll: 'SELECT * FROM apps ORDER BY access_id',
  appCounts: `SELECT
      (SELECT count(*) FROM bindings WHERE app_id = @appId) AS bindings,
      (SELECT count(*) FROM (SELECT DISTINCT token FROM bindings WHERE app_id = @appId)) AS tokens,
      (SELECT count(*) FROM (SELECT DISTINCT account, account_type FROM bindings WHERE app_id = @appId)) AS accounts,
      (SELECT count(*) FROM (SELECT DISTINCT token FROM bindings INDEXED BY bindings_quarantined
        WHERE app_id = @appId AND quarantined_at IS NOT NULL)) AS quarantined`,
  appInsert: `INSERT INTO apps (access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token,
      binding_rules, quarantine_days, token_ttl_days, expiry_warning_days, created_at, history_from)
      VALUES (@accessId, @name, @secretKey, @maxTokensPerAccount, @maxAccountsPerToken, @bindingRules,
        @quarantineDays, @tokenTtlDays, @expiryWarningDays, @createdAt, 0)`,
  /** An import writes no history: the app's history is complete only from then on. */
  appHistoryFrom: 'UPDATE apps SET history_from = ? WHERE id = ?',
  appUpdate: `UPDATE apps SET name = @name, secret_key = @secretKey, previous_secret_key = @previousSecretKey,
      previous_secret_expires_at = @previousSecretExpiresAt, max_tokens_per_account = @maxTokensPerAccount,
      max_accounts_per_token = @maxAccountsPerToken, binding_rules = @bindingRules,
      quarantine_days = @quarantineDays, token_ttl_days = @tokenTtlDays, expiry_warning_days = @expiryWarningDays,
      webhook_url = @webhookUrl, webhook_secret = @webhookSecret,
      rate_limit_per_second = @rateLimitPerSecond, rate_limit_burst = @rateLimitBurst WHERE access_id = @accessId`,
  appDelete: 'DELETE FROM apps WHERE id = ?',
  /** One stored secret (@column) of app @accessId becomes @value if it still is @was (secrets-at-rest.ts). */
  secretReplace: `UPDATE apps SET
      secret_key = CASE @column WHEN 'secret_key' THEN @value ELSE secret_key END,
      previous_secret_key = CASE @column WHEN 'previous_secret_key' THEN @value ELSE previous_secret_key END,
      webhook_secret = CASE @column WHEN 'webhook_secret' THEN @value ELSE webhook_secret END
    WHERE access_id = @accessId
      AND CASE @column WHEN 'secret_key' THEN secret_key WHEN 'previous_secret_key' THEN previous_secret_key
        ELSE webhook_secret END = @was`,
  /** Everything of an app but its row, deleted with it. */
  appDataDelete: [
    'DELETE FROM bindings WHERE app_id = ?',
    'DELETE FROM history WHERE app_id = ?',
    'DELETE FROM webhook_outbox WHERE app_id = ?',
    'DELETE FROM webhook_deliveries WHERE app_id = ?',
    'DELETE FROM idempotency_keys WHERE app_id = ?',
  ],
  /** Takes the app's next write revision, inside the batch's transaction. */
  appsTakeRevisions: 'UPDATE apps SET revision = revision + 1 WHERE id = ? RETURNING revision',

  // The query answers: active bindings only. INDEXED BY: without statistics the planner may pick the primary
  // key's app_id prefix and scan the whole app; quarantined_at is in the index, so this is one seek.
  // No ORDER BY in these four: better-sqlite3 is built with SQLITE_ENABLE_STAT4, and there a statement
  // with an ORDER BY over bound parameters is re-prepared at every run (and its row shape rebuilt with
  // `Function`): measured 6.5 against 2.8 µs a call alone, and most of a query's time under load
  // (BENCHMARKS.md). The store sorts the few rows by bound_at instead (sqlite-reads.ts byBindTime).
  tokensOfAccount: `SELECT token, platform, bound_at FROM bindings INDEXED BY bindings_by_account
      WHERE app_id = ? AND account = ? AND account_type = ? AND quarantined_at IS NULL`,
  accountsOfToken: `SELECT account, account_type, platform, bound_at FROM bindings
      WHERE app_id = ? AND token = ? AND quarantined_at IS NULL`,
  /** Every binding of a token or an account, whatever its state, with every column. */
  bindingsOfToken: `SELECT ${BINDING_COLUMNS} FROM bindings WHERE app_id = ? AND token = ?`,
  bindingsOfAccount: `SELECT ${BINDING_COLUMNS} FROM bindings INDEXED BY bindings_by_account
      WHERE app_id = ? AND account = ? AND account_type = ?`,
  bindingsOfTokens: `SELECT ${BINDING_COLUMNS} FROM bindings
      WHERE app_id = ? AND token IN (${Array<string>(LOAD_KEYS).fill('?').join(', ')})`,
  bindingsOfAccounts: `SELECT ${BINDING_COLUMNS} FROM bindings INDEXED BY bindings_by_account
      WHERE app_id = ? AND (account, account_type) IN (VALUES ${Array<string>(LOAD_KEYS).fill('(?, ?)').join(', ')})`,
  bindingsUpsert: `INSERT INTO bindings (app_id, ${BINDING_COLUMNS}) VALUES ${BINDING_ROW} ${UPSERT_SET}`,
  /** Under the tpns rules: the token's binding of this account_type to another account. */
  bindingsOfSlotOthersDelete:
    'DELETE FROM bindings WHERE app_id = ? AND token = ? AND account_type = ? AND account <> ?',
  bindingsUpsertPlain: `INSERT INTO bindings (${PLAIN_COLUMNS}) VALUES ${PLAIN_ROW} ${PLAIN_SET}`,
  // bindingsUpsertPlain for UPSERT_ROWS rows in one statement (rows apply in order, as separate statements would):
  // measured ~35% faster for imports than a statement per row.
  bindingsUpsertPlainMany: `INSERT INTO bindings (${PLAIN_COLUMNS}) VALUES
      ${Array<string>(UPSERT_ROWS).fill(PLAIN_ROW).join(', ')} ${PLAIN_SET}`,
  bindingsDelete: 'DELETE FROM bindings WHERE app_id = ? AND token = ? AND account = ? AND account_type = ?',

  /** Seen: the token's active bindings, in place. */
  tokensTouch: `UPDATE bindings SET last_seen_at = ?, expiry_warned_at = NULL
      WHERE app_id = ? AND token = ? AND quarantined_at IS NULL`,
  tokensPresent: 'SELECT 1 FROM bindings WHERE app_id = ? AND token = ? LIMIT 1',
  /** A sweep's purge: tokens of bindings quarantined too long. */
  dueToPurge: `SELECT DISTINCT token FROM (SELECT token FROM bindings INDEXED BY bindings_quarantined
      WHERE app_id = ? AND quarantined_at < ? LIMIT ?)`,

  bindingsExport: `SELECT ${BINDING_COLUMNS} FROM bindings WHERE app_id = ? AND token >= ?
      ORDER BY token, account, account_type`,

  historyInsert: `INSERT INTO history (app_id, at, operator_type, cause, token, account, account_type, platform,
      op_type, op_id, request_id, created)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  /** What a rewind undoes, oldest first (history_by_app, the entries up to the time skipped). */
  historyAfter: `SELECT token, account, account_type, platform, cause, created FROM history INDEXED BY history_by_app
      WHERE app_id = ? AND at > ? ORDER BY id LIMIT ?`,
  historyAll: 'SELECT * FROM history WHERE app_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
  // The app's first and last history ids, the slices a look-up by token or account walks: two subqueries,
  // each one seek (min and max in one SELECT would read every history row of the app).
  historyIds: `SELECT (SELECT min(id) FROM history WHERE app_id = @appId) AS first,
      (SELECT max(id) FROM history WHERE app_id = @appId) AS last`,
  // Slices from the first parameter down to the second, one index search each (~3 µs) in ONE statement:
  // a statement per slice cost ~20-80 µs (an ORDER BY re-prepared at each run: see tokensOfAccount).
  historyOfToken: historyOfSlices('history_by_token', 'h.token = ?'),
  historyOfAccount: historyOfSlices('history_by_account', 'h.account = ? AND h.account_type = ?'),
  historyOfBinding: historyOfSlices('history_by_token', 'h.token = ? AND h.account = ? AND h.account_type = ?'),

  idempotencyGet: 'SELECT body_hash, result, created_at FROM idempotency_keys WHERE app_id = ? AND key = ?',
  idempotencyPut:
    'INSERT OR REPLACE INTO idempotency_keys (app_id, key, body_hash, result, created_at) VALUES (?, ?, ?, ?, ?)',

  outboxInsert:
    'INSERT INTO webhook_outbox (app_id, type, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)',
  outboxDropPending: "DELETE FROM webhook_outbox WHERE app_id = ? AND state = 'pending'",
  /** The oldest pending event of every app, if due: one at a time per app keeps them in order. */
  outboxDue: `SELECT o.id, o.app_id, a.access_id, a.webhook_url, a.webhook_secret, o.type, o.payload, o.created_at,
      o.attempts
      FROM (SELECT app_id, min(id) AS id FROM webhook_outbox WHERE state = 'pending' GROUP BY app_id) AS head
      JOIN webhook_outbox o ON o.id = head.id
      JOIN apps a ON a.id = o.app_id
      WHERE o.next_attempt_at <= ? AND a.webhook_url IS NOT NULL LIMIT ?`,
  outboxLease: 'UPDATE webhook_outbox SET next_attempt_at = ? WHERE id = ?',
  outboxBacklog: "SELECT count(*) AS pending, min(created_at) AS oldestAt FROM webhook_outbox WHERE state = 'pending'",
  outboxComplete: 'UPDATE webhook_outbox SET attempts = attempts + 1, state = ?, next_attempt_at = ? WHERE id = ?',
  deliveryInsert: `INSERT INTO webhook_deliveries (event_id, app_id, at, attempt, status, error, duration_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?)`,
  deliveriesOfApp: 'SELECT * FROM webhook_deliveries WHERE app_id = ? ORDER BY id DESC LIMIT ?',

  /** Sweeps go in slices so the writer is never held for long. */
  sweepHistory: 'DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < ? LIMIT ?)',
  /** After a sweep of history before a time, no app's history is complete before it. */
  appsHistoryTrimmed: 'UPDATE apps SET history_from = ? WHERE history_from < ?',
  sweepIdempotency: `DELETE FROM idempotency_keys WHERE (app_id, key) IN
      (SELECT app_id, key FROM idempotency_keys WHERE created_at < ? LIMIT ?)`,
  sweepOutbox: `DELETE FROM webhook_outbox WHERE id IN
      (SELECT id FROM webhook_outbox WHERE created_at < ? AND state <> 'pending' LIMIT ?)`,
  sweepDeliveries:
    'DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE at < ? LIMIT ?)',

  migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
  migrationsVersion: 'SELECT max(version) AS v FROM schema_migrations',
  migrationRecord: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  schemaExists: "SELECT count(*) > 0 AS found FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  migrationsApplied: 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
  oldestReader: 'SELECT oldest_reader AS v FROM schema_compatibility WHERE id = 1',
  oldestReaderRecord: 'UPDATE schema_compatibility SET oldest_reader = max(oldest_reader, ?) WHERE id = 1',

  clockGet: 'SELECT last_bound_at FROM bind_clock WHERE id = 1',
  clockSet: 'UPDATE bind_clock SET last_bound_at = ? WHERE id = 1',
  ping: 'SELECT 1',

  // Backups (sqlite-backup.ts). VACUUM INTO writes one consistent snapshot: a single read transaction.
  backupInto: 'VACUUM INTO ?',
  integrityCheck: 'PRAGMA integrity_check',
  backupApps: `SELECT a.access_id AS accessId, a.revision,
      (SELECT count(*) FROM bindings b WHERE b.app_id = a.id) AS bindings FROM apps a ORDER BY a.access_id`,
  backupPosition: `SELECT (SELECT max(id) FROM history) AS lastHistoryId,
      (SELECT last_bound_at FROM bind_clock WHERE id = 1) AS lastBoundAt,
      (SELECT max(version) FROM schema_migrations) AS schemaVersion`,
  /** Rewrites the clock row unchanged: the smallest real write. */
  clockTouch: 'UPDATE bind_clock SET last_bound_at = last_bound_at WHERE id = 1',
} as const satisfies Queries<SqliteOwn>;
