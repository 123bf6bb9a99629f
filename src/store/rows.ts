/** The row shapes both SQL backends share (same column names), and their mapping to domain types. */
import type { App, Binding, Platform } from '../domain/types.ts';

export interface AppRow {
  id: number;
  access_id: string;
  name: string;
  secret_key: string;
  previous_secret_key: string | null;
  previous_secret_expires_at: number | null;
  max_tokens_per_account: number;
  max_accounts_per_token: number;
  created_at: number;
}

export interface BindingRow {
  token: string;
  account: string;
  account_type: number;
  platform: Platform | null;
  bound_at: number;
}

export const rowToApp = (row: AppRow): App => ({
  id: row.id,
  accessId: row.access_id,
  name: row.name,
  secretKey: row.secret_key,
  previousSecretKey: row.previous_secret_key,
  previousSecretExpiresAt: row.previous_secret_expires_at,
  policy: { maxTokensPerAccount: row.max_tokens_per_account, maxAccountsPerToken: row.max_accounts_per_token },
  createdAt: row.created_at,
});

export const rowToBinding = (row: BindingRow): Binding => ({
  token: row.token,
  account: row.account,
  accountType: row.account_type,
  platform: row.platform,
  boundAt: row.bound_at,
});
