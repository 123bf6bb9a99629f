/** The row shapes both SQL backends share (same column names), and their mapping to domain types. */
import type { HistoryRecord, RewindRow } from '../model/outcomes.ts';
import type { AppPatch, DeliveryOutcome, HistoryEntry, WebhookDelivery, WebhookEvent } from '../model/store.ts';
import type { App, AppPolicy, Binding, ChangeCause, OperatorType, Platform } from '../model/types.ts';

export interface AppRow {
  id: number;
  access_id: string;
  name: string;
  secret_key: string;
  previous_secret_key: string | null;
  previous_secret_expires_at: number | null;
  max_tokens_per_account: number;
  max_accounts_per_token: number;
  binding_rules: string;
  quarantine_days: number;
  token_ttl_days: number | null;
  expiry_warning_days: number;
  created_at: number;
  /** Unix ms since which the app's history is complete; null when an older release made the app. */
  history_from: number | null;
  webhook_url: string | null;
  webhook_secret: string | null;
  rate_limit_per_second: number | null;
  rate_limit_burst: number | null;
}

export interface BindingRow {
  token: string;
  account: string;
  account_type: number;
  platform: Platform | null;
  bound_at: number;
  /** NULL: when bound (bound_at / 1000). */
  last_seen_at: number | null;
  quarantined_at: number | null;
  quarantine_reason: string | null;
  expiry_warned_at: number | null;
}

/** Every column of a binding row but app_id, in the order of the upserts' parameters. */
export const BINDING_COLUMNS =
  'token, account, account_type, platform, bound_at, last_seen_at, quarantined_at, quarantine_reason, expiry_warned_at';

export type PolicyColumns = Pick<
  AppRow,
  | 'max_tokens_per_account'
  | 'max_accounts_per_token'
  | 'binding_rules'
  | 'quarantine_days'
  | 'token_ttl_days'
  | 'expiry_warning_days'
>;

/** The policy columns of an app row (read by the apps queries and by the write transactions' app lock). */
export const policyOf = (row: PolicyColumns): AppPolicy => ({
  maxTokensPerAccount: row.max_tokens_per_account,
  maxAccountsPerToken: row.max_accounts_per_token,
  bindingRules: row.binding_rules === 'tpns' ? 'tpns' : 'append',
  quarantineDays: row.quarantine_days,
  tokenTtlDays: row.token_ttl_days,
  expiryWarningDays: row.expiry_warning_days,
});

export const rowToApp = (row: AppRow): App => ({
  id: row.id,
  accessId: row.access_id,
  name: row.name,
  secretKey: row.secret_key,
  previousSecretKey: row.previous_secret_key,
  previousSecretExpiresAt: row.previous_secret_expires_at,
  policy: policyOf(row),
  rateLimit:
    row.rate_limit_per_second !== null && row.rate_limit_burst !== null
      ? { perSecond: row.rate_limit_per_second, burst: row.rate_limit_burst }
      : null,
  webhook:
    row.webhook_url !== null && row.webhook_secret !== null
      ? { url: row.webhook_url, secret: row.webhook_secret }
      : null,
  createdAt: row.created_at,
});

export const rowToBinding = (row: BindingRow): Binding => ({
  token: row.token,
  account: row.account,
  accountType: row.account_type,
  platform: row.platform,
  boundAt: row.bound_at,
  lastSeenAt: row.last_seen_at ?? Math.floor(row.bound_at / 1000),
  quarantinedAt: row.quarantined_at,
  quarantineReason: row.quarantine_reason,
  expiryWarnedAt: row.expiry_warned_at,
});

/** last_seen_at as stored: NULL when it is the bind time. */
export const storedLastSeen = (b: Binding): number | null =>
  b.lastSeenAt === Math.floor(b.boundAt / 1000) ? null : b.lastSeenAt;

/**
 * Whether the binding's lifecycle columns are all NULL (active, seen when bound, not warned): the
 * common case, written with the first six columns alone.
 */
export const isPlain = (b: Binding): boolean =>
  b.quarantinedAt === null && b.expiryWarnedAt === null && storedLastSeen(b) === null;

/** A binding's columns after app_id, in BINDING_COLUMNS order. */
export const bindingParams = (b: Binding): unknown[] => [
  b.token,
  b.account,
  b.accountType,
  b.platform,
  b.boundAt,
  storedLastSeen(b),
  b.quarantinedAt,
  b.quarantineReason,
  b.expiryWarnedAt,
];

export interface HistoryRow {
  id: number;
  at: number;
  operator_type: number;
  cause: string;
  token: string;
  account: string;
  account_type: number;
  platform: Platform | null;
  op_type: string | null;
  op_id: string | null;
  request_id: string | null;
}

export const rowToHistory = (row: HistoryRow): HistoryEntry => ({
  id: row.id,
  at: row.at,
  operatorType: row.operator_type as OperatorType,
  cause: row.cause as ChangeCause,
  token: row.token,
  account: row.account,
  accountType: row.account_type,
  platform: row.platform,
  opType: row.op_type,
  opId: row.op_id,
  requestId: row.request_id,
});

/** The parameters of one history insert, in column order. */
export const historyParams = (appId: number, r: HistoryRecord): unknown[] => [
  appId,
  r.at,
  r.operatorType,
  r.cause,
  r.token,
  r.account,
  r.accountType,
  r.platform,
  r.opType,
  r.opId,
  r.requestId,
  r.created === null ? null : r.created ? 1 : 0,
];

export interface OutboxRow {
  id: number;
  app_id: number;
  access_id: string;
  webhook_url: string;
  webhook_secret: string;
  type: string;
  payload: string;
  created_at: number;
  attempts: number;
}

export const rowToWebhookEvent = (row: OutboxRow): WebhookEvent => ({
  id: row.id,
  appId: row.app_id,
  accessId: row.access_id,
  url: row.webhook_url,
  secret: row.webhook_secret,
  type: row.type as WebhookEvent['type'],
  payload: row.payload,
  createdAt: row.created_at,
  attempts: row.attempts,
});

export interface DeliveryRow {
  id: number;
  event_id: number;
  at: number;
  attempt: number;
  status: number | null;
  error: string | null;
  duration_ms: number;
}

/** A delivery attempt's row (deliveryInsert), and the event's outbox update after it (outboxComplete). */
export const deliveryParams = (event: WebhookEvent, outcome: DeliveryOutcome): unknown[] => [
  event.id,
  event.appId,
  outcome.at,
  event.attempts + 1,
  outcome.status,
  outcome.error,
  outcome.durationMs,
];
export const outboxCompleteParams = (event: WebhookEvent, outcome: DeliveryOutcome): unknown[] =>
  typeof outcome.next === 'number' ? ['pending', outcome.next, event.id] : [outcome.next, outcome.at, event.id];

export const rowToDelivery = (row: DeliveryRow): WebhookDelivery => ({
  id: row.id,
  eventId: row.event_id,
  at: row.at,
  attempt: row.attempt,
  status: row.status,
  error: row.error,
  durationMs: row.duration_ms,
});

/** The columns of an app that an AppPatch can change, merged over the current app. */
export function patchedAppColumns(app: App, patch: AppPatch) {
  const pick = <T>(value: T | undefined, current: T): T => (value !== undefined ? value : current);
  const rateLimit = pick(patch.rateLimit, app.rateLimit);
  const webhook = pick(patch.webhook, app.webhook);
  return {
    accessId: app.accessId,
    name: pick(patch.name, app.name),
    secretKey: pick(patch.secretKey, app.secretKey),
    previousSecretKey: pick(patch.previousSecretKey, app.previousSecretKey),
    previousSecretExpiresAt: pick(patch.previousSecretExpiresAt, app.previousSecretExpiresAt),
    maxTokensPerAccount: patch.policy?.maxTokensPerAccount ?? app.policy.maxTokensPerAccount,
    maxAccountsPerToken: patch.policy?.maxAccountsPerToken ?? app.policy.maxAccountsPerToken,
    bindingRules: patch.policy?.bindingRules ?? app.policy.bindingRules,
    quarantineDays: patch.policy?.quarantineDays ?? app.policy.quarantineDays,
    tokenTtlDays: pick(patch.policy?.tokenTtlDays, app.policy.tokenTtlDays),
    expiryWarningDays: patch.policy?.expiryWarningDays ?? app.policy.expiryWarningDays,
    webhookUrl: webhook?.url ?? null,
    webhookSecret: webhook?.secret ?? null,
    rateLimitPerSecond: rateLimit?.perSecond ?? null,
    rateLimitBurst: rateLimit?.burst ?? null,
  };
}

/** A history entry as a rewind reads it (historyAfter). */
export interface RewindRowColumns {
  token: string;
  account: string;
  account_type: number;
  platform: Platform | null;
  cause: string;
  /** SQLite: 1 or 0; PostgreSQL: a boolean; null for entries that are not binds or predate it. */
  created: number | boolean | null;
}

export const rowToRewind = (row: RewindRowColumns): RewindRow => ({
  token: row.token,
  account: row.account,
  accountType: row.account_type,
  platform: row.platform,
  cause: row.cause as ChangeCause,
  created: row.created === null ? null : Boolean(row.created),
});
