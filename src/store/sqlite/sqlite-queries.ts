/** Every SQL statement of the SQLite store, named. Row shapes are in ../rows.ts. */

export const SQL = {
  pragmas: ['journal_mode = WAL', 'synchronous = FULL', 'busy_timeout = 5000', 'foreign_keys = OFF'],

  appByAccessId: 'SELECT * FROM apps WHERE access_id = ?',
  appById: 'SELECT * FROM apps WHERE id = ?',
  appsAll: 'SELECT * FROM apps ORDER BY access_id',
  appCounts: `SELECT
      (SELECT count(*) FROM bindings WHERE app_id = @appId) AS bindings,
      (SELECT count(*) FROM (SELECT DISTINCT token FROM bindings WHERE app_id = @appId)) AS tokens,
      (SELECT count(*) FROM (SELECT DISTINCT account, account_type FROM bindings WHERE app_id = @appId)) AS accounts`,
  appInsert: `INSERT INTO apps (access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token, created_at)
      VALUES (@accessId, @name, @secretKey, @maxTokensPerAccount, @maxAccountsPerToken, @createdAt)`,
  appUpdate: `UPDATE apps SET name = @name, secret_key = @secretKey, previous_secret_key = @previousSecretKey,
      previous_secret_expires_at = @previousSecretExpiresAt, max_tokens_per_account = @maxTokensPerAccount,
      max_accounts_per_token = @maxAccountsPerToken WHERE access_id = @accessId`,
  appDelete: 'DELETE FROM apps WHERE id = ?',
  appBindingsDelete: 'DELETE FROM bindings WHERE app_id = ?',
  /** Takes the app's next revision and reads its policy in one step, inside the batch's transaction. */
  appNextRevision: `UPDATE apps SET revision = revision + 1 WHERE id = ?
      RETURNING revision, max_tokens_per_account, max_accounts_per_token`,

  // INDEXED BY: without statistics the planner may pick the primary key's app_id prefix and scan the whole app.
  tokensOfAccount: `SELECT token, platform, bound_at FROM bindings INDEXED BY bindings_by_account
      WHERE app_id = ? AND account = ? AND account_type = ? ORDER BY bound_at`,
  accountsOfToken: `SELECT account, account_type, platform, bound_at FROM bindings
      WHERE app_id = ? AND token = ? ORDER BY bound_at`,

  bindingsOfToken: 'SELECT token, account, account_type, platform, bound_at FROM bindings WHERE app_id = ? AND token = ?',
  bindingsOfAccount: `SELECT token, account, account_type, platform, bound_at FROM bindings INDEXED BY bindings_by_account
      WHERE app_id = ? AND account = ? AND account_type = ?`,
  bindingPut: `INSERT INTO bindings (app_id, token, account, account_type, platform, bound_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (app_id, token, account, account_type) DO UPDATE SET platform = excluded.platform, bound_at = excluded.bound_at`,
  bindingDelete: 'DELETE FROM bindings WHERE app_id = ? AND token = ? AND account = ? AND account_type = ?',

  bindingsPage: `SELECT token, account, account_type, platform, bound_at FROM bindings
      WHERE app_id = ? AND (token, account, account_type) > (?, ?, ?) ORDER BY token, account, account_type LIMIT ?`,

  clockGet: 'SELECT last_bound_at FROM bind_clock WHERE id = 1',
  clockSet: 'UPDATE bind_clock SET last_bound_at = ? WHERE id = 1',
  ping: 'SELECT 1',
} as const;
