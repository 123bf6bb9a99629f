/** Every SQL statement of the PostgreSQL store, named. Lists travel as arrays and are unnested server-side. */
import type { PostgresOwn, Queries } from '../queries.ts';
import { BINDING_COLUMNS } from '../rows.ts';

/**
 * The changes matching `where` (parameters from $4) in slices $1 down to $2 (../history-slices.ts) of
 * app $3, with ids below $`next`, newest first, at most $`next + 1`: one index search a slice; `id >> 10`
 * is the index's.
 */
function historyOfSlices(where: string, next: number): string {
  const before = `$${next}`;
  const limit = `$${next + 1}`;
  return `SELECT h.* FROM generate_series($1::bigint, $2::bigint, -1) AS s(n)
      CROSS JOIN LATERAL (SELECT * FROM history h WHERE h.app_id = $3 AND (h.id >> 10) = s.n AND ${where}
        AND h.id < ${before} ORDER BY h.id DESC LIMIT ${limit}) AS h
      ORDER BY h.id DESC LIMIT ${limit}`;
}

/**
 * The PL/pgSQL functions behind the one-key query answers, created by migration 7. A statement sent
 * unnamed (as every statement is, for PgBouncer's transaction mode) is planned at each run: a third of
 * PostgreSQL's work for a one-key query. The same statement inside a PL/pgSQL function keeps its plan
 * for the session's life (re-planned by PostgreSQL itself when the schema changes), and the call
 * around it is a trivial plan (BENCHMARKS.md). COLLATE "C": the columns' collation, so that the
 * comparison can use their indexes. A change to one is a new migration (CREATE OR REPLACE), never an
 * edit here: databases already at version 7 would not see it.
 */
export const FUNCTIONS = {
  tokensOfAccount: `CREATE FUNCTION bindery_tokens_of_account(p_app integer, p_account text, p_account_type integer)
      RETURNS TABLE (token text, platform text, bound_at bigint) LANGUAGE plpgsql STABLE AS $$
    BEGIN
      RETURN QUERY SELECT b.token, b.platform, b.bound_at FROM bindings b
        WHERE b.app_id = p_app AND b.account = p_account COLLATE "C" AND b.account_type = p_account_type
          AND b.quarantined_at IS NULL
        ORDER BY b.bound_at;
    END $$`,
  accountsOfToken: `CREATE FUNCTION bindery_accounts_of_token(p_app integer, p_token text)
      RETURNS TABLE (account text, account_type integer, platform text, bound_at bigint) LANGUAGE plpgsql STABLE AS $$
    BEGIN
      RETURN QUERY SELECT b.account, b.account_type, b.platform, b.bound_at FROM bindings b
        WHERE b.app_id = p_app AND b.token = p_token COLLATE "C" AND b.quarantined_at IS NULL
        ORDER BY b.bound_at;
    END $$`,
} as const;

export const SQL = {
  /**
   * Every transaction of the store, in one round trip (the simple protocol takes both). Parallel query
   * off: a group's load of a few hundred keys was planned as a Parallel Append on 1,000,000 bindings,
   * and each one forked two worker processes for a few ms of index probes; the forks were most of
   * PostgreSQL's CPU per durable write (BENCHMARKS.md). Every statement of a
   * transaction here is a set of index probes. SET LOCAL ends with the transaction (PgBouncer's
   * transaction mode keeps it).
   */
  begin: 'BEGIN; SET LOCAL max_parallel_workers_per_gather = 0',
  schemaExists: "SELECT to_regclass('schema_migrations') IS NOT NULL AS found",
  appByAccessId: 'SELECT * FROM apps WHERE access_id = $1',
  appsAll: 'SELECT * FROM apps ORDER BY access_id',
  appCounts: `SELECT
      (SELECT count(*) FROM bindings WHERE app_id = $1) AS bindings,
      (SELECT count(DISTINCT token) FROM bindings WHERE app_id = $1) AS tokens,
      (SELECT count(*) FROM (SELECT DISTINCT account, account_type FROM bindings WHERE app_id = $1) AS a) AS accounts,
      (SELECT count(DISTINCT token) FROM bindings WHERE app_id = $1 AND quarantined_at IS NOT NULL) AS quarantined`,
  appInsert: `INSERT INTO apps (access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token,
      binding_rules, quarantine_days, token_ttl_days, expiry_warning_days, created_at, history_from)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0) ON CONFLICT (access_id) DO NOTHING RETURNING *`,
  /** An import writes no history: the app's history is complete only from then on. */
  appHistoryFrom: 'UPDATE apps SET history_from = $1 WHERE id = $2',
  appForUpdate: 'SELECT * FROM apps WHERE access_id = $1 FOR UPDATE',
  /** One stored secret (column $1) of app $3 becomes $2 if it still is $4 (secrets-at-rest.ts). */
  secretReplace: `UPDATE apps SET
      secret_key = CASE $1 WHEN 'secret_key' THEN $2 ELSE secret_key END,
      previous_secret_key = CASE $1 WHEN 'previous_secret_key' THEN $2 ELSE previous_secret_key END,
      webhook_secret = CASE $1 WHEN 'webhook_secret' THEN $2 ELSE webhook_secret END
    WHERE access_id = $3
      AND CASE $1 WHEN 'secret_key' THEN secret_key WHEN 'previous_secret_key' THEN previous_secret_key
        ELSE webhook_secret END = $4`,
  appUpdate: `UPDATE apps SET name = $2, secret_key = $3, previous_secret_key = $4, previous_secret_expires_at = $5,
      max_tokens_per_account = $6, max_accounts_per_token = $7, webhook_url = $8, webhook_secret = $9,
      rate_limit_per_second = $10, rate_limit_burst = $11, binding_rules = $12, quarantine_days = $13,
      token_ttl_days = $14, expiry_warning_days = $15 WHERE access_id = $1 RETURNING *`,
  /** After appLockExclusive: a batch applying concurrently waits, then finds the app gone. */
  appDelete: 'DELETE FROM apps WHERE access_id = $1 RETURNING id',
  appDataDelete: [
    'DELETE FROM bindings WHERE app_id = $1',
    'DELETE FROM history WHERE app_id = $1',
    'DELETE FROM webhook_outbox WHERE app_id = $1',
    'DELETE FROM webhook_deliveries WHERE app_id = $1',
    'DELETE FROM idempotency_keys WHERE app_id = $1',
  ],

  /**
   * The advisory locks of a group (postgres-locks.ts), in the order given: each row waits for its
   * lock before the next is taken, so the caller's order is the order they are taken in.
   */
  locksWait: `SELECT CASE WHEN l.shared THEN pg_advisory_xact_lock_shared(l.app, l.key)
        ELSE pg_advisory_xact_lock(l.app, l.key) END
      FROM unnest($1::int[], $2::int[], $3::bool[]) AS l(app, key, shared)`,
  /**
   * The same without waiting, each tried once: answers only those another transaction holds (nearly
   * always none), so a group's hundreds of keys do not come back as rows.
   */
  locksTry: `SELECT l.app, l.key FROM unnest($1::int[], $2::int[]) AS l(app, key)
      WHERE NOT pg_try_advisory_xact_lock(l.app, l.key)`,
  /** The apps of a group, read once their locks are held: their policy and clock as committed. */
  appsOfGroup: `SELECT id, last_bound_at, max_tokens_per_account, max_accounts_per_token, binding_rules,
        quarantine_days, token_ttl_days, expiry_warning_days, webhook_url, history_from
      FROM apps WHERE id = ANY($1::int[])`,
  /**
   * The group's last statement before COMMIT: takes `n` revisions of each app and raises its
   * clock. The rows are locked in id order, and held to the commit, so the groups of one app commit
   * one after another in the order of their revisions, and two groups can never deadlock.
   */
  appsTakeRevisions: `WITH locked AS (SELECT id FROM apps WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE)
      UPDATE apps SET revision = apps.revision + v.n, last_bound_at = GREATEST(apps.last_bound_at, v.clock)
      FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS v(id, n, clock)
      WHERE apps.id = v.id AND apps.id IN (SELECT id FROM locked)
      RETURNING apps.id, apps.revision`,
  /** The app's own lock, exclusive (postgres-locks.ts): a change of policy or a deletion waits for every group of it. */
  appLockExclusive: 'SELECT pg_advisory_xact_lock(id, 0) FROM apps WHERE access_id = $1',

  /**
   * Every binding of these tokens and of these accounts: what a batch can touch. A binding of a
   * token and an account both named comes twice (the caller keeps one): UNION's sort and compare of
   * every column cost more than the rows it would save.
   */
  bindingsForBatch: `SELECT ${BINDING_COLUMNS} FROM bindings
      WHERE app_id = $1 AND token = ANY($2::text[])
    UNION ALL
    SELECT b.token, b.account, b.account_type, b.platform, b.bound_at, b.last_seen_at, b.quarantined_at,
        b.quarantine_reason, b.expiry_warned_at
      FROM unnest($3::text[], $4::int[]) AS k(account, account_type)
      JOIN bindings b ON b.app_id = $1 AND b.account = k.account AND b.account_type = k.account_type`,
  bindingsDelete: `DELETE FROM bindings b
      USING unnest($2::text[], $3::text[], $4::int[]) AS d(token, account, account_type)
      WHERE b.app_id = $1 AND b.token = d.token AND b.account = d.account AND b.account_type = d.account_type`,
  /** Under the tpns rules: each token's binding of the account_type to another account than the one given. */
  bindingsOfSlotOthersDelete: `DELETE FROM bindings b
      USING unnest($2::text[], $3::text[], $4::int[]) AS d(token, account, account_type)
      WHERE b.app_id = $1 AND b.token = d.token AND b.account_type = d.account_type AND b.account <> d.account`,
  /** An upsert of plain bindings (rows.ts isPlain): six columns each, the lifecycle ones become NULL. */
  bindingsUpsertPlain: `INSERT INTO bindings (app_id, token, account, account_type, platform, bound_at)
      SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[])
      ON CONFLICT (app_id, token, account, account_type)
      DO UPDATE SET platform = excluded.platform, bound_at = excluded.bound_at, last_seen_at = NULL,
        quarantined_at = NULL, quarantine_reason = NULL, expiry_warned_at = NULL`,
  bindingsUpsert: `INSERT INTO bindings (app_id, ${BINDING_COLUMNS})
      SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[], $7::bigint[],
        $8::bigint[], $9::text[], $10::bigint[])
      ON CONFLICT (app_id, token, account, account_type)
      DO UPDATE SET platform = excluded.platform, bound_at = excluded.bound_at, last_seen_at = excluded.last_seen_at,
        quarantined_at = excluded.quarantined_at, quarantine_reason = excluded.quarantine_reason,
        expiry_warned_at = excluded.expiry_warned_at`,
  /** Seen: the tokens' active bindings, in place; answers the tokens touched. */
  tokensTouch: `UPDATE bindings b SET last_seen_at = $3, expiry_warned_at = NULL
      FROM (SELECT DISTINCT token FROM unnest($2::text[]) AS u(token)) AS t
      WHERE b.app_id = $1 AND b.token = t.token AND b.quarantined_at IS NULL RETURNING b.token`,
  tokensPresent: 'SELECT DISTINCT token FROM bindings WHERE app_id = $1 AND token = ANY($2::text[])',
  /** A sweep's purge: tokens of bindings quarantined too long. */
  dueToPurge: `SELECT DISTINCT token FROM (SELECT token FROM bindings
      WHERE app_id = $1 AND quarantined_at < $2 LIMIT $3) AS due`,
  appRaiseClock: 'UPDATE apps SET last_bound_at = GREATEST(last_bound_at, $2) WHERE id = $1 RETURNING id',

  // One key, as nearly every query asks: a plain index scan, which PostgreSQL plans and runs in about
  // half the time of the unnest join that answers many keys, and inside a function whose plan is kept
  // (FUNCTIONS above).
  tokensOfAccount: 'SELECT token, platform, bound_at FROM bindery_tokens_of_account($1, $2, $3)',
  accountsOfToken: 'SELECT account, account_type, platform, bound_at FROM bindery_accounts_of_token($1, $2)',
  tokensOfAccounts: `SELECT k.ord, b.token, b.platform, b.bound_at
      FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS k(account, account_type, ord)
      JOIN bindings b ON b.app_id = $1 AND b.account = k.account AND b.account_type = k.account_type
        AND b.quarantined_at IS NULL
      ORDER BY k.ord, b.bound_at`,
  accountsOfTokens: `SELECT k.ord, b.account, b.account_type, b.platform, b.bound_at
      FROM unnest($2::text[]) WITH ORDINALITY AS k(token, ord)
      JOIN bindings b ON b.app_id = $1 AND b.token = k.token AND b.quarantined_at IS NULL
      ORDER BY k.ord, b.bound_at`,
  /** Every binding, whatever its state, with every column: for people's reads. */
  bindingsOfToken: `SELECT ${BINDING_COLUMNS} FROM bindings WHERE app_id = $1 AND token = $2 ORDER BY bound_at`,
  bindingsOfAccount: `SELECT ${BINDING_COLUMNS} FROM bindings WHERE app_id = $1 AND account = $2 AND account_type = $3
      ORDER BY bound_at`,
  exportBegin: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  // Without it, an app imported since the table's last ANALYZE (autovacuum waits for 10% of the
  // table to change: 10,000,000 rows at 100,000,000) is estimated at one row, and each page was
  // planned as a scan of the app's whole account index and a sort: an export of 1,000,000 among
  // 100,000,000 ran for hours. A page is a walk of the primary key from the last key, never a sort.
  exportInKeyOrder: 'SET LOCAL enable_sort = off',
  bindingsExport: `SELECT ${BINDING_COLUMNS} FROM bindings
      WHERE app_id = $1 AND (token, account, account_type) > ($2, $3, $4)
      ORDER BY token, account, account_type LIMIT $5`,
  historyInsert: `INSERT INTO history (app_id, at, operator_type, cause, token, account, account_type, platform,
      op_type, op_id, request_id, created)
      SELECT $1, * FROM unnest($2::bigint[], $3::int[], $4::text[], $5::text[], $6::text[], $7::int[],
        $8::text[], $9::text[], $10::text[], $11::text[], $12::boolean[])`,
  /** What a rewind undoes, oldest first. */
  historyAfter: `SELECT token, account, account_type, platform, cause, created FROM history
      WHERE app_id = $1 AND at > $2 ORDER BY id LIMIT $3`,
  historyAll: 'SELECT * FROM history WHERE app_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3',
  // The app's first and last history ids: the slices a look-up by token or account walks.
  historyIds: `SELECT (SELECT min(id) FROM history WHERE app_id = $1) AS first,
      (SELECT max(id) FROM history WHERE app_id = $1) AS last`,
  historyOfToken: historyOfSlices('h.token = $4', 5),
  historyOfAccount: historyOfSlices('h.account = $4 AND h.account_type = $5', 6),
  historyOfBinding: historyOfSlices('h.token = $4 AND h.account = $5 AND h.account_type = $6', 7),

  idempotencyGet: 'SELECT body_hash, result, created_at FROM idempotency_keys WHERE app_id = $1 AND key = $2',
  /** Answers under their keys (distinct), replacing expired ones. */
  idempotencyPut: `INSERT INTO idempotency_keys (app_id, key, body_hash, result, created_at)
      SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::bigint[])
      ON CONFLICT (app_id, key)
      DO UPDATE SET body_hash = excluded.body_hash, result = excluded.result, created_at = excluded.created_at`,

  /** Events, their ids in the order given. */
  outboxInsert: `INSERT INTO webhook_outbox (app_id, type, payload, created_at, next_attempt_at)
      SELECT e.app_id, e.type, e.payload, e.at, e.at
      FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS e(app_id, type, payload, at, ord)
      ORDER BY e.ord`,
  outboxDropPending:
    "DELETE FROM webhook_outbox WHERE app_id = (SELECT id FROM apps WHERE access_id = $1) AND state = 'pending'",
  /**
   * Claims the oldest pending event of every app, if due, by moving its next attempt past a lease.
   * SKIP LOCKED and the re-checked due time let several instances claim without taking the same one.
   */
  outboxClaim: `WITH head AS (
        SELECT min(id) AS id FROM webhook_outbox WHERE state = 'pending' GROUP BY app_id
      ), due AS (
        SELECT o.id FROM webhook_outbox o JOIN head ON o.id = head.id
        WHERE o.next_attempt_at <= $1 LIMIT $3 FOR UPDATE OF o SKIP LOCKED
      )
      UPDATE webhook_outbox o SET next_attempt_at = $2 FROM due, apps a
      WHERE o.id = due.id AND a.id = o.app_id AND a.webhook_url IS NOT NULL
      RETURNING o.id, o.app_id, a.access_id, a.webhook_url, a.webhook_secret, o.type, o.payload, o.created_at,
        o.attempts`,
  outboxComplete: 'UPDATE webhook_outbox SET attempts = attempts + 1, state = $1, next_attempt_at = $2 WHERE id = $3',
  outboxBacklog: `SELECT count(*)::int AS pending, min(created_at)::float8 AS "oldestAt"
      FROM webhook_outbox WHERE state = 'pending'`,
  deliveryInsert: `INSERT INTO webhook_deliveries (event_id, app_id, at, attempt, status, error, duration_ms)
      VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  deliveriesOfApp: 'SELECT * FROM webhook_deliveries WHERE app_id = $1 ORDER BY id DESC LIMIT $2',

  sweepHistory: 'DELETE FROM history WHERE id IN (SELECT id FROM history WHERE at < $1 LIMIT $2)',
  /** After a sweep of history before a time, no app's history is complete before it. */
  appsHistoryTrimmed: 'UPDATE apps SET history_from = $1 WHERE history_from < $1',
  sweepIdempotency: `DELETE FROM idempotency_keys WHERE (app_id, key) IN
      (SELECT app_id, key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)`,
  sweepOutbox: `DELETE FROM webhook_outbox WHERE id IN
      (SELECT id FROM webhook_outbox WHERE created_at < $1 AND state <> 'pending' LIMIT $2)`,
  sweepDeliveries:
    'DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE at < $1 LIMIT $2)',

  migrationsLock: 'SELECT pg_advisory_xact_lock($1)',
  /** For the rest of the transaction: how long a statement waits for a lock before it fails (55P03). */
  lockTimeout: "SELECT set_config('lock_timeout', $1, true)",
  migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
  migrationsVersion: 'SELECT max(version) AS v FROM schema_migrations',
  migrationRecord: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
  migrationsApplied: 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
  oldestReader: 'SELECT oldest_reader AS v FROM schema_compatibility WHERE id = 1',
  oldestReaderRecord: 'UPDATE schema_compatibility SET oldest_reader = GREATEST(oldest_reader, $1) WHERE id = 1',

  /** After a commit: a position at or past its commit record, which a replica must replay to show it. */
  walPosition: 'SELECT pg_current_wal_lsn()::text AS position',
  replayPosition: 'SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS replayed',

  ping: 'SELECT 1',
} as const satisfies Queries<PostgresOwn>;
