/** An app as people and scripts see it (CLI --json, admin API): flat, snake_case, secrets only when asked. */
import type { AppCounts } from '../store/store.ts';
import type { App, BindingRules } from './types.ts';

export interface AppView {
  access_id: string;
  name: string;
  secret_key?: string;
  previous_secret_valid_until?: string;
  max_tokens_per_account: number;
  max_accounts_per_token: number;
  binding_rules: BindingRules;
  rate_limit_per_second: number | null;
  rate_limit_burst: number | null;
  webhook_url: string | null;
  webhook_secret?: string;
  created_at: string;
  bindings?: number;
  tokens?: number;
  accounts?: number;
}

export function appView(
  app: App & { counts?: AppCounts },
  show: { secret?: boolean; webhookSecret?: boolean } = {},
): AppView {
  const graceEnds = app.previousSecretExpiresAt;
  return {
    access_id: app.accessId,
    name: app.name,
    ...(show.secret ? { secret_key: app.secretKey } : {}),
    ...(graceEnds && graceEnds > Date.now() ? { previous_secret_valid_until: new Date(graceEnds).toISOString() } : {}),
    max_tokens_per_account: app.policy.maxTokensPerAccount,
    max_accounts_per_token: app.policy.maxAccountsPerToken,
    binding_rules: app.policy.bindingRules,
    rate_limit_per_second: app.rateLimit?.perSecond ?? null,
    rate_limit_burst: app.rateLimit?.burst ?? null,
    webhook_url: app.webhook?.url ?? null,
    ...(show.webhookSecret && app.webhook ? { webhook_secret: app.webhook.secret } : {}),
    created_at: new Date(app.createdAt).toISOString(),
    ...(app.counts ? { bindings: app.counts.bindings, tokens: app.counts.tokens, accounts: app.counts.accounts } : {}),
  };
}
