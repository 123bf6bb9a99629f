/** The wire types of bindery's API, as a client sees them. */

export type Platform = 'android' | 'ios';

export interface AccountRef {
  account: string;
  /** 0 when omitted. */
  account_type?: number;
}

/** Both spellings of the status, as every bindery answer carries them. */
export interface TpnsStatus {
  ret_code: number;
  err_msg: string;
  retCode: number;
  errMsg: string;
}

export interface TokenAccounts {
  token: string;
  account_list: AccountRef[];
}

export type BatchoperateRequest = {
  platform?: Platform | 'Android' | 'iOS';
  op_type?: string;
  op_id?: string;
} & (
  | { operator_type: 1 | 2 | 3; token_accounts: TokenAccounts[] }
  | { operator_type: 4; token_list: string[] }
  | { operator_type: 5; account_list: AccountRef[] }
);

export interface BatchoperateResponse extends TpnsStatus {
  /** One per element in request order: "0" or the element's error code. */
  result: string[];
}

export type QueryRequest =
  | { operator_type: 1; account_list: AccountRef[] }
  | { operator_type: 2; token_list: string[] };

export interface QueryResponse extends TpnsStatus {
  result: string[];
  account_tokens?: { account: string; account_type: number; token_list: string[] }[];
  token_accounts?: { token: string; account_list: Required<AccountRef>[] }[];
}

/** A binding's lifecycle, in the /api/v1 reads. */
export interface Lifecycle {
  /** The last bind, restore or report of activity (ISO 8601). */
  last_seen_at: string;
  /** Quarantined tokens are left out of query answers and shown only with includeQuarantined. */
  state: 'active' | 'quarantined';
  quarantined_at?: string;
  /** The provider's answer that quarantined it, e.g. "apns: Unregistered (410)". */
  quarantine_reason?: string;
}

export interface TokenInfo extends Lifecycle {
  token: string;
  platform: Platform | null;
  bound_at: string;
}

export interface AccountInfo extends Lifecycle {
  account: string;
  account_type: number;
  platform: Platform | null;
  bound_at: string;
}

export interface HistoryEntry {
  id: number;
  at: string;
  /** 0 for the token lifecycle's changes (quarantined, expired, restored, purged) and a rewind's. */
  operator_type: number;
  cause:
    | 'bind'
    | 'unbind'
    | 'override'
    | 'replaced'
    | 'evicted'
    | 'token_reset'
    | 'account_reset'
    | 'quarantined'
    | 'expired'
    | 'restored'
    | 'purged'
    | 'rewind';
  token: string;
  account: string;
  account_type: number;
  platform: Platform | null;
  op_type: string | null;
  op_id: string | null;
  request_id: string | null;
}

export interface HistoryFilter {
  account?: string;
  account_type?: number;
  token?: string;
}

export interface HistoryPage {
  entries: HistoryEntry[];
  next_cursor: string | null;
}

/** One line of export and import. */
export interface BindingRecord {
  token: string;
  account: string;
  account_type?: number;
  platform?: Platform | null;
  bound_at?: string;
  last_seen_at?: string;
  state?: 'active' | 'quarantined';
  quarantined_at?: string;
  quarantine_reason?: string;
}

export type PushProvider = 'apns' | 'fcm' | 'hms' | 'expo' | 'webpush';

/** A push provider's answer to a send, as a send service receives it. */
export interface FeedbackItem {
  token: string;
  provider: PushProvider;
  /** The provider's own reason (APNs "Unregistered", FCM "UNREGISTERED", HMS "80300007", ...); or give status alone. */
  reason?: string;
  /** The HTTP status of the provider's answer. */
  status?: number;
  /** When the provider answered: Unix ms or ISO 8601; default now. A token bound again after it stays active. */
  at?: number | string;
}

export interface FeedbackResponse extends TpnsStatus {
  /** One per item: "0" or its error code. */
  result: string[];
  outcomes: {
    class: 'invalid' | 'transient' | 'unknown' | null;
    action: 'quarantined' | 'already_quarantined' | 'stale' | 'counted' | 'no_binding' | 'refused';
    /** What was wrong, for an item that failed. */
    err_msg?: string;
  }[];
}

export interface SeenResponse extends TpnsStatus {
  result: string[];
  outcomes: { action: 'seen' | 'already_quarantined' | 'no_binding' | 'refused'; err_msg?: string }[];
}

export interface RestoreResponse extends TpnsStatus {
  token: string;
  action: 'restored' | 'active';
}

export interface ImportSummary {
  imported: number;
  failed: number;
  /** Under the app's `tpns` binding rules: stored bindings removed because a line took their token's account_type. */
  replaced: number;
  /** Under the `tpns` binding rules: lines not applied because a later line took their token and account_type. */
  superseded: number;
  /** Refused lines, numbered from 1 over everything this call sent. */
  errors: { line: number; err_msg: string }[];
}
