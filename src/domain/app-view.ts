/**
 * An app as people and scripts see it: flat, snake_case, secrets only when asked. One schema for
 * the admin API (its response allow-list), the CLI's --json and the console (which imports the type).
 */
import { type Static, Type } from 'typebox';
import type { AppCounts } from '../model/store.ts';
import { type App, BINDING_RULES } from '../model/types.ts';

export const BindingRulesSchema = Type.Enum(BINDING_RULES, {
  description:
    'append (default): op 1 appends; tpns: as TPNS since 2020-10-26, ' +
    'op 1 acts as op 2 and a token keeps one account per account_type',
});

export const AppViewSchema = Type.Object({
  access_id: Type.String(),
  name: Type.String(),
  secret_key: Type.Optional(Type.String({ description: 'only when created or rotated' })),
  previous_secret_valid_until: Type.Optional(Type.String({ format: 'date-time' })),
  max_tokens_per_account: Type.Integer(),
  max_accounts_per_token: Type.Integer(),
  binding_rules: BindingRulesSchema,
  quarantine_days: Type.Integer({ description: 'days a quarantined token keeps its bindings before they are purged' }),
  token_ttl_days: Type.Union([Type.Integer(), Type.Null()], {
    description: 'tokens not seen this many days are quarantined (cause expired); null: never',
  }),
  expiry_warning_days: Type.Integer({ description: 'token.expiring is sent this many days before that' }),
  rate_limit_per_second: Type.Union([Type.Number(), Type.Null()]),
  rate_limit_burst: Type.Union([Type.Integer(), Type.Null()]),
  webhook_url: Type.Union([Type.String(), Type.Null()]),
  webhook_secret: Type.Optional(Type.String({ description: 'only when the webhook is set' })),
  created_at: Type.String({ format: 'date-time' }),
  bindings: Type.Optional(Type.Integer()),
  tokens: Type.Optional(Type.Integer()),
  accounts: Type.Optional(Type.Integer()),
  quarantined: Type.Optional(Type.Integer({ description: 'tokens in quarantine' })),
});

export type AppView = Static<typeof AppViewSchema>;

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
    quarantine_days: app.policy.quarantineDays,
    token_ttl_days: app.policy.tokenTtlDays,
    expiry_warning_days: app.policy.expiryWarningDays,
    rate_limit_per_second: app.rateLimit?.perSecond ?? null,
    rate_limit_burst: app.rateLimit?.burst ?? null,
    webhook_url: app.webhook?.url ?? null,
    ...(show.webhookSecret && app.webhook ? { webhook_secret: app.webhook.secret } : {}),
    created_at: new Date(app.createdAt).toISOString(),
    ...(app.counts
      ? {
          bindings: app.counts.bindings,
          tokens: app.counts.tokens,
          accounts: app.counts.accounts,
          quarantined: app.counts.quarantined,
        }
      : {}),
  };
}
