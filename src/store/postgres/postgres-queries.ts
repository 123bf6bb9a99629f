/** Every SQL statement of the PostgreSQL store, named. Lists travel as arrays and are unnested server-side. */

export const SQL = {
  appByAccessId: 'SELECT * FROM apps WHERE access_id = $1',
  appsAll: 'SELECT * FROM apps ORDER BY access_id',
  appCounts: `SELECT
      (SELECT count(*) FROM bindings WHERE app_id = $1) AS bindings,
      (SELECT count(DISTINCT token) FROM bindings WHERE app_id = $1) AS tokens,
      (SELECT count(*) FROM (SELECT DISTINCT account, account_type FROM bindings WHERE app_id = $1) AS a) AS accounts`,
  appInsert: `INSERT INTO apps (access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token, created_at)
      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (access_id) DO NOTHING RETURNING *`,
  appUpdate: `UPDATE apps SET
      name = COALESCE($2, name),
      secret_key = COALESCE($3, secret_key),
      previous_secret_key = CASE WHEN $4::boolean THEN $5 ELSE previous_secret_key END,
      previous_secret_expires_at = CASE WHEN $6::boolean THEN $7::bigint ELSE previous_secret_expires_at END,
      max_tokens_per_account = COALESCE($8, max_tokens_per_account),
      max_accounts_per_token = COALESCE($9, max_accounts_per_token)
      WHERE access_id = $1 RETURNING *`,
  /** Locks the app row first, so a batch applying concurrently waits and then finds the app gone. */
  appDelete: 'DELETE FROM apps WHERE access_id = $1 RETURNING id',
  appBindingsDelete: 'DELETE FROM bindings WHERE app_id = $1',

  /**
   * Locks the apps of a group in id order: every write of an app is serialized across instances
   * (caps can never be exceeded, no update is lost) and two groups can never deadlock.
   */
  appsLock: `SELECT id, revision, last_bound_at, max_tokens_per_account, max_accounts_per_token
      FROM apps WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE`,
  appsSaveClock: `UPDATE apps SET revision = v.revision, last_bound_at = v.last_bound_at
      FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS v(id, revision, last_bound_at) WHERE apps.id = v.id`,

  /** Every binding of these tokens and of these accounts: what a batch can touch. */
  bindingsForBatch: `SELECT token, account, account_type, platform, bound_at FROM bindings
      WHERE app_id = $1 AND token = ANY($2::text[])
    UNION
    SELECT b.token, b.account, b.account_type, b.platform, b.bound_at
      FROM unnest($3::text[], $4::int[]) AS k(account, account_type)
      JOIN bindings b ON b.app_id = $1 AND b.account = k.account AND b.account_type = k.account_type`,
  bindingsDelete: `DELETE FROM bindings b USING unnest($2::text[], $3::text[], $4::int[]) AS d(token, account, account_type)
      WHERE b.app_id = $1 AND b.token = d.token AND b.account = d.account AND b.account_type = d.account_type`,
  bindingsUpsert: `INSERT INTO bindings (app_id, token, account, account_type, platform, bound_at)
      SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[])
      ON CONFLICT (app_id, token, account, account_type)
      DO UPDATE SET platform = excluded.platform, bound_at = excluded.bound_at`,
  appRaiseClock: 'UPDATE apps SET last_bound_at = GREATEST(last_bound_at, $2) WHERE id = $1 RETURNING id',

  tokensOfAccounts: `SELECT k.ord, b.token, b.platform, b.bound_at
      FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS k(account, account_type, ord)
      JOIN bindings b ON b.app_id = $1 AND b.account = k.account AND b.account_type = k.account_type
      ORDER BY k.ord, b.bound_at`,
  accountsOfTokens: `SELECT k.ord, b.account, b.account_type, b.platform, b.bound_at
      FROM unnest($2::text[]) WITH ORDINALITY AS k(token, ord)
      JOIN bindings b ON b.app_id = $1 AND b.token = k.token
      ORDER BY k.ord, b.bound_at`,
  bindingsPage: `SELECT token, account, account_type, platform, bound_at FROM bindings
      WHERE app_id = $1 AND (token, account, account_type) > ($2, $3, $4)
      ORDER BY token, account, account_type LIMIT $5`,
  ping: 'SELECT 1',
} as const;
