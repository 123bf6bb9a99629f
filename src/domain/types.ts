/** The words of SPEC §1 as types. Times are microseconds since the Unix epoch, strictly increasing per store. */

import type { RetCode } from '../errors.ts';

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
}

/** Why a binding appeared or disappeared; recorded in the history. */
/** `replaced`: under the `tpns` binding rules, another account of the same account_type took the token. */
export const CHANGE_CAUSES = [
  'bind',
  'unbind',
  'override',
  'replaced',
  'evicted',
  'token_reset',
  'account_reset',
] as const;
export type ChangeCause = (typeof CHANGE_CAUSES)[number];

export type OperatorType = 1 | 2 | 3 | 4 | 5;

/** One change a batch made, in order; `op` is the operator_type of the element that caused it. */
export type Change =
  | {
      kind: 'put';
      binding: Binding;
      cause: 'bind';
      op: OperatorType;
      /** false when an existing binding was refreshed */
      created: boolean;
    }
  | { kind: 'delete'; binding: Binding; cause: Exclude<ChangeCause, 'bind'>; op: OperatorType }
  | { kind: 'platform'; token: string; platform: Platform };

/** One valid element of a batchoperate request, ready to apply. */
export type BatchElement =
  | { op: 1 | 2 | 3; token: string; accounts: AccountKey[] }
  | { op: 4; token: string }
  | { op: 5; account: AccountKey };

export interface BatchCommand {
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
}

export const DEFAULT_POLICY: AppPolicy = { maxTokensPerAccount: 100, maxAccountsPerToken: 10, bindingRules: 'append' };

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
export const bindingKeyString = (b: Binding): string => `${b.token}\u0000${accountKeyString(b)}`;

/** A bind time (microseconds) as the ISO 8601 instant people read. */
export const boundAtIso = (boundAt: number): string => new Date(Math.floor(boundAt / 1000)).toISOString();
