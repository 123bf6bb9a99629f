/**
 * The BindingStore contract: what every backend (SQLite, PostgreSQL) promises. test/store-contract.ts
 * checks each promise on every backend. Every method is async and rejects on failure; a rejection is
 * a StoreError (or one of the named errors below) and means nothing was changed.
 */
import type { ElementOutcome } from '../domain/apply-batch.ts';
import type { AccountKey, App, AppPolicy, BatchCommand, Binding, Platform } from '../domain/types.ts';

export interface NewApp {
  accessId: string;
  name: string;
  secretKey: string;
  policy: AppPolicy;
}

export interface AppPatch {
  name?: string;
  secretKey?: string;
  previousSecretKey?: string | null;
  previousSecretExpiresAt?: number | null;
  policy?: Partial<AppPolicy>;
}

export interface AppCounts {
  bindings: number;
  tokens: number;
  accounts: number;
}

export interface TokenOfAccount {
  token: string;
  platform: Platform | null;
  /** Microseconds since the epoch; strictly increasing per store. */
  boundAt: number;
}

export interface AccountOfToken extends AccountKey {
  platform: Platform | null;
  boundAt: number;
}

/** What applyBatch answers: one outcome per element, and the app's write revision after this batch. */
export interface BatchResult {
  outcomes: ElementOutcome[];
  /** Strictly increasing per app: batches of one app were applied in the order of their revisions. */
  revision: number;
}

/** Where a page of listBindings starts: strictly after this key. */
export interface BindingKey extends AccountKey {
  token: string;
}

/** The key before every binding, for the first page. */
export const FIRST_BINDING_KEY: BindingKey = { token: '', account: '', accountType: -1 };

export interface BindingStore {
  /** Which backend this is, for logs and /readyz. */
  readonly kind: 'sqlite' | 'postgres';

  /** Creates an app. Rejects with AppExistsError when the AccessID is taken. */
  createApp(app: NewApp): Promise<App>;

  /** The app with this AccessID, or undefined. Reads committed state (a just-created app is found). */
  findApp(accessId: string): Promise<App | undefined>;

  /** Every app, ordered by AccessID. */
  listApps(): Promise<App[]>;

  /** Distinct bindings, tokens and accounts (account + account_type) of one app. */
  countBindings(appId: number): Promise<AppCounts>;

  /** Changes the given fields; returns the updated app, or undefined if there is none. */
  updateApp(accessId: string, patch: AppPatch): Promise<App | undefined>;

  /** Deletes the app and every binding it has, atomically. Returns false if there was no such app. */
  deleteApp(accessId: string): Promise<boolean>;

  /**
   * Applies every element of the command in ONE transaction, in order, with the app's policy as
   * committed at that moment (caps and eviction, SPEC §2.5), and resolves only after the
   * transaction is durable. Rejects with AppNotFoundError if the app no longer exists, and then
   * nothing was applied. Outcomes are one per element, in order; the revision orders this batch
   * among all batches of the app (also across instances sharing one database).
   */
  applyBatch(appId: number, command: BatchCommand): Promise<BatchResult>;

  /** For each account, in request order, its tokens ordered by bind time, oldest first. */
  tokensOfAccounts(appId: number, accounts: AccountKey[]): Promise<TokenOfAccount[][]>;

  /** For each token, in request order, its accounts ordered by bind time, oldest first. */
  accountsOfTokens(appId: number, tokens: string[]): Promise<AccountOfToken[][]>;

  /**
   * One page of the app's bindings in key order (token, then account, then account_type, compared
   * bytewise), strictly after `after`. Pages are stable under concurrent writes: nothing is seen twice.
   */
  listBindings(appId: number, after: BindingKey, limit: number): Promise<Binding[]>;

  /**
   * Upserts the bindings exactly as given (platform and bound_at kept) in ONE durable transaction,
   * without caps: for copying and restoring data. Binds made later are newer than every imported one.
   */
  importBindings(appId: number, bindings: Binding[]): Promise<void>;

  /** Resolves when the store can serve reads and writes now; rejects otherwise. */
  ping(): Promise<void>;

  /** Finishes the writes already accepted, then releases every resource. Idempotent. */
  close(): Promise<void>;
}
