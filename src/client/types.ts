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

export interface TokenInfo {
  token: string;
  platform: Platform | null;
  bound_at: string;
}

export interface AccountInfo {
  account: string;
  account_type: number;
  platform: Platform | null;
  bound_at: string;
}

export interface HistoryEntry {
  id: number;
  at: string;
  /** 0 for the token lifecycle's changes (quarantined, expired, restored, purged). */
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
    | 'purged';
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
}

export interface ImportSummary {
  imported: number;
  failed: number;
  /** Refused lines, numbered from 1 over everything this call sent. */
  errors: { line: number; err_msg: string }[];
}
