/** The words of SPEC §1 as types. Times are microseconds since the Unix epoch, strictly increasing per store. */

import type { RetCode } from './errors.ts';

export type Platform = 'android' | 'ios';

/** An account is identified by the pair (account, account_type). */
export interface AccountKey {
  account: string;
  accountType: number;
}

export interface Binding extends AccountKey {
  token: string;
  platform: Platform | null;
  boundAt: number;
  /** Unix ms: the token's last bind, restore or report as active (all of a token's bindings share it). */
  lastSeenAt: number;
  /** Unix ms the token was quarantined (left out of query answers); null while it is active. */
  quarantinedAt: number | null;
  /** Why it was quarantined, e.g. "apns: Unregistered (410)"; null while it is active. */
  quarantineReason: string | null;
  /** Unix ms the token.expiring warning went out for its current inactivity; null when none did. */
  expiryWarnedAt: number | null;
}

/** A binding as bound at its boundAt, which it was last seen at: active and unwarned. */
export const asBound = (
  b: Omit<Binding, 'lastSeenAt' | 'quarantinedAt' | 'quarantineReason' | 'expiryWarnedAt'>,
): Binding => ({
  ...b,
  lastSeenAt: Math.floor(b.boundAt / 1000),
  quarantinedAt: null,
  quarantineReason: null,
  expiryWarnedAt: null,
});

export type BindingState = 'active' | 'quarantined';
export const bindingState = (b: Pick<Binding, 'quarantinedAt'>): BindingState =>
  b.quarantinedAt === null ? 'active' : 'quarantined';

/** Why a binding appeared or disappeared; recorded in the history. */
/**
 * `replaced`: under the `tpns` binding rules, another account of the same account_type took the token.
 * The token lifecycle: `quarantined` (a push provider said the token is dead), `expired` (quarantined
 * for inactivity), `restored` (quarantine lifted), `purged` (deleted after quarantine_days).
 */
export const CHANGE_CAUSES = [
  'bind',
  'unbind',
  'override',
  'replaced',
  'evicted',
  'token_reset',
  'account_reset',
  'quarantined',
  'expired',
  'restored',
  'purged',
  'rewind',
] as const;
export type ChangeCause = (typeof CHANGE_CAUSES)[number];

/** batchoperate's operator_type; 0 for changes that did not come from batchoperate (the token lifecycle). */
export type OperatorType = 0 | 1 | 2 | 3 | 4 | 5;

/** Lifecycle causes: a binding changed state without appearing or disappearing. */
export type StateCause = 'quarantined' | 'expired' | 'restored';

/** One change a batch made, in order; `op` is the operator_type of the element that caused it. */
export type Change =
  | {
      kind: 'put';
      binding: Binding;
      /** `rewind`: brought back by a rewind (src/domain/apply-rewind.ts). */
      cause: 'bind' | 'rewind';
      op: OperatorType;
      /** false when an existing binding was refreshed */
      created: boolean;
    }
  | { kind: 'delete'; binding: Binding; cause: Exclude<ChangeCause, 'bind' | StateCause>; op: OperatorType }
  | { kind: 'platform'; token: string; platform: Platform }
  /** Quarantined or restored: recorded in history, reported once per token as an event. */
  | { kind: 'state'; binding: Binding; cause: StateCause; op: OperatorType }
  /** Seen, or warned of expiry: stored, but no history (`warned` is reported as token.expiring). */
  | { kind: 'touch'; binding: Binding; warned?: boolean };

/** One valid element of a batchoperate request, ready to apply. */
export type BatchElement =
  | { op: 1 | 2 | 3; token: string; accounts: AccountKey[] }
  | { op: 4; token: string }
  | { op: 5; account: AccountKey };

export interface BatchCommand {
  kind?: 'batch';
  elements: BatchElement[];
  platform: Platform | null;
  /** Who made the change (XG op_type / op_id); kept for the history. */
  opType: string | null;
  opId: string | null;
  /** The HTTP request that asked for it, for the history. */
  requestId?: string;
}

/** Per-app limits (SPEC §2.5). */
/**
 * `append`: op 1 appends, as the seed documents describe it. `tpns`: TPNS since 2020-10-26: op 1
 * behaves as op 2, and in ops 1 and 2 a token keeps at most one account per account_type.
 */
export const BINDING_RULES = ['append', 'tpns'] as const;
export type BindingRules = (typeof BINDING_RULES)[number];

export interface AppPolicy {
  maxTokensPerAccount: number;
  maxAccountsPerToken: number;
  bindingRules: BindingRules;
  /** Days a quarantined token keeps its bindings before the sweeper deletes them. */
  quarantineDays: number;
  /** Days without a sign of life after which the sweeper quarantines a token; null: never. */
  tokenTtlDays: number | null;
  /** Days before that quarantine that token.expiring is sent (less than tokenTtlDays). */
  expiryWarningDays: number;
}

export const DEFAULT_POLICY: AppPolicy = {
  maxTokensPerAccount: 100,
  maxAccountsPerToken: 10,
  bindingRules: 'append',
  quarantineDays: 30,
  tokenTtlDays: null,
  expiryWarningDays: 7,
};

/** The outcome of one applied element: 0, or the TPNS code it failed with. */
export type ElementCode = (typeof RetCode)['OK' | 'INVALID_PARAMETER' | 'NO_BINDING'];

/** Per-app token bucket: `perSecond` refill, up to `burst` tokens. Off when absent. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

export interface Webhook {
  url: string;
  /** Signs every delivery (HMAC-SHA256); shown once when set. */
  secret: string;
}

export interface App {
  /** Internal numeric key; never on the wire. */
  id: number;
  accessId: string;
  name: string;
  secretKey: string;
  previousSecretKey: string | null;
  /** Unix ms after which previousSecretKey stops working. */
  previousSecretExpiresAt: number | null;
  policy: AppPolicy;
  rateLimit: RateLimit | null;
  webhook: Webhook | null;
  createdAt: number;
}

export const accountKeyString = (key: AccountKey): string => `${key.accountType}\u0000${key.account}`;

/** One binding's key as one string (U+0000 is refused in tokens and accounts, so it separates safely). */
export const bindingKeyString = (b: Pick<Binding, 'token' | 'account' | 'accountType'>): string =>
  `${b.token}\u0000${accountKeyString(b)}`;

/** A bind time (microseconds) as the ISO 8601 instant people read. */
export const boundAtIso = (boundAt: number): string => new Date(Math.floor(boundAt / 1000)).toISOString();

/** A push provider's answer about one token, classified as dead (`invalid`): the token to quarantine. */
export interface DeadTokenReport {
  token: string;
  /** "apns: Unregistered (410)": the provider and its own words, kept as the quarantine's reason. */
  reason: string;
  /** Unix ms the provider answered; a token bound again after it is not quarantined. */
  at: number;
}

/** Who asked for a lifecycle write, for the history. */
interface LifecycleActor {
  requestId?: string;
}

/** Providers' answers: quarantine each token reported dead. */
export interface FeedbackCommand extends LifecycleActor {
  kind: 'feedback';
  reports: DeadTokenReport[];
}

/** Tokens the app reports active: their last_seen_at becomes now. */
export interface SeenCommand extends LifecycleActor {
  kind: 'seen';
  tokens: string[];
}

/** Lift these tokens' quarantine. */
export interface RestoreCommand extends LifecycleActor {
  kind: 'restore';
  tokens: string[];
}

/**
 * A sweeper's round for one app as of `now` (Unix ms): up to `purgeLimit` tokens quarantined for
 * quarantine_days are purged, and `tokens` (which the sweeper's scan found due) are warned of
 * expiry or expired, each decided again under the app's lock.
 */
export interface SweepCommand {
  kind: 'sweep';
  now: number;
  purgeLimit: number;
  tokens: string[];
  requestId?: undefined;
}

/**
 * Make the app's bindings what they were at `to` (Unix ms): every change whose write began after
 * it undone, as one write. `dryRun`: count what it would bind and unbind, change nothing.
 */
export interface RewindCommand extends LifecycleActor {
  kind: 'rewind';
  to: number;
  dryRun: boolean;
}

/** Every write the rules run on the single write path (src/domain/run-batch.ts). */
export type WriteCommand = BatchCommand | FeedbackCommand | SeenCommand | RestoreCommand | SweepCommand | RewindCommand;

export const DAY_MS = 86_400_000;
