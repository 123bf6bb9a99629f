/**
 * The BindingStore contract: what every backend (SQLite, PostgreSQL) promises. test/store-contract.ts
 * checks each promise on every backend. Every method is async and rejects on failure; a rejection is
 * a StoreError (or one of the named errors below) and means nothing was changed.
 */

import type { BatchRequest, BatchResult, IdempotencyKey, WriteRulesModule } from './batch-transaction.ts';
import type { HistoryRecord, WebhookEventType } from './outcomes.ts';
import type { AccountKey, App, AppPolicy, Binding, Platform, RateLimit, Webhook } from './types.ts';

/** Where a store says what it did on its own (migrations, reconnecting): the server's log. */
export interface StoreLog {
  info(message: string): void;
  warn(message: string): void;
}

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
  /** null turns it off. */
  rateLimit?: RateLimit | null;
  /** null turns it off. */
  webhook?: Webhook | null;
}

/** The columns of an app that hold a secret. */
export type SecretColumn = 'secret_key' | 'previous_secret_key' | 'webhook_secret';

/** One app secret as the database holds it: sealed (store/secret-box.ts) or clear text. */
export interface StoredSecret {
  accessId: string;
  column: SecretColumn;
  value: string;
}

export interface AppCounts {
  bindings: number;
  tokens: number;
  accounts: number;
  /** Distinct tokens in quarantine. */
  quarantined: number;
}

export interface TokenOfAccount {
  token: string;
  platform: Platform | null;
  /** Microseconds since the epoch; strictly increasing per store. */
  boundAt: number;
}

export type BindingsOf = { token: string } | { account: AccountKey };

export interface AccountOfToken extends AccountKey {
  platform: Platform | null;
  boundAt: number;
}

export interface HistoryEntry extends Omit<HistoryRecord, 'created'> {
  id: number;
}

export interface HistoryFilter {
  token?: string;
  account?: AccountKey;
}

/** A webhook event claimed for delivery, with what is needed to send it. */
export interface WebhookEvent {
  id: number;
  appId: number;
  accessId: string;
  url: string;
  secret: string;
  type: WebhookEventType;
  payload: string;
  createdAt: number;
  /** Attempts made before this one. */
  attempts: number;
}

export interface WebhookDelivery {
  id: number;
  eventId: number;
  at: number;
  attempt: number;
  /** HTTP status, or null when no answer came. */
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookBacklog {
  pending: number;
  /** Unix ms the oldest pending event was made; null when none is pending. */
  oldestAt: number | null;
}

export interface DeliveryOutcome {
  at: number;
  status: number | null;
  error: string | null;
  durationMs: number;
  /** delivered, failed for good, or the Unix ms of the next attempt. */
  next: 'delivered' | 'failed' | number;
}

export interface SweepCutoffs {
  /** Unix ms: history before this goes (retention). */
  historyBefore: number;
  idempotencyBefore: number;
  /** Delivered or failed events and delivery logs before this go. */
  webhooksBefore: number;
}

export interface SweepCounts {
  history: number;
  idempotency: number;
  webhooks: number;
}

/** A write position as PostgreSQL writes a WAL LSN: two hexadecimal numbers of up to 32 bits. */
export const WRITE_POSITION = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

/** Where reads went, with read replicas: for the metrics. */
export interface ReplicaStats {
  reads: { primary: number; replica: number };
  /**
   * Reads the primary served although replicas are configured, by why; `beyond`: the position the
   * client sent is past anything the primary has written, so no replica would ever reach it.
   */
  fallbacks: { lagging: number; waited: number; unavailable: number; beyond: number };
  replicas: { name: string; lagMs: number | null; usable: boolean; problem: string | null }[];
}

/** An export's pages of bindings (BindingStore.exportBindings). */
export type BindingPages = AsyncGenerator<Binding[], void, undefined>;

/**
 * `deadline` (Unix ms), taken by the calls on a request's path: the call resolves or rejects by
 * then, whatever the database does (a backend that can wait on a network, PostgreSQL, rejects with
 * an unavailable StoreError and leaves nothing applied that it had not committed). Without one,
 * the store's own timeout applies from the call's start.
 *
 * `after`, taken by the reads of an app's bindings: a write position (as `writePosition` gave,
 * here or in another instance on the same database) the read must see. Whatever it is, a read
 * sees every write of the app this instance has answered (read-your-writes); a store that reads
 * from replicas serves a read from one only once it has replayed both.
 */
export interface BindingStore {
  /** Which backend this is, for logs and /readyz. */
  readonly kind: 'sqlite' | 'postgres';

  /**
   * How many importBindings calls of one import are worth having in flight at once: 1 where one
   * writer does all writes (SQLite), more where separate connections write side by side.
   */
  readonly importConcurrency: number;

  /** Creates an app. Rejects with AppExistsError when the AccessID is taken. */
  createApp(app: NewApp): Promise<App>;

  /** The app with this AccessID, or undefined. Reads committed state (a just-created app is found). */
  findApp(accessId: string, deadline?: number): Promise<App | undefined>;

  /** Every app, ordered by AccessID. */
  listApps(): Promise<App[]>;

  /** Distinct bindings, tokens and accounts (account + account_type) of one app. */
  countBindings(appId: number): Promise<AppCounts>;

  /** Changes the given fields; returns the updated app, or undefined if there is none. */
  updateApp(accessId: string, patch: AppPatch): Promise<App | undefined>;

  /** Deletes the app and every binding it has, atomically. Returns false if there was no such app. */
  deleteApp(accessId: string): Promise<boolean>;

  /**
   * Lends the batch's app its part of ONE write transaction (a BatchTransaction) and runs the
   * rules' runBatch in it (the module `rules`, loaded once); resolves with what runBatch answered
   * only after the transaction is durable. While it runs, the app's policy cannot change and no
   * other write of what the batch touches (the bindings of its tokens and accounts, the far ends
   * of what it writes, its Idempotency-Key) can commit, in this instance or another sharing the
   * database: the result is that of running the app's batches one at a time in the order of their
   * revisions (SQLite runs them so; PostgreSQL runs batches on disjoint keys side by side,
   * postgres-locks.ts). If runBatch throws, nothing of this batch is applied (other batches
   * sharing the transaction still commit) and the call rejects with what it threw.
   * The rules and what they promise (SPEC §2.4, §2.5, idempotency): src/domain/run-batch.ts.
   */
  runBatch(rules: WriteRulesModule, batch: BatchRequest, deadline?: number): Promise<BatchResult>;

  /**
   * The query answers. For each account, in request order, its tokens ordered by bind time, oldest
   * first; quarantined tokens are left out (SPEC: they are not sent to).
   */
  tokensOfAccounts(
    appId: number,
    accounts: AccountKey[],
    deadline?: number,
    after?: string,
  ): Promise<TokenOfAccount[][]>;

  /** For each token, in request order, its accounts ordered by bind time, oldest first; none while it is quarantined. */
  accountsOfTokens(appId: number, tokens: string[], deadline?: number, after?: string): Promise<AccountOfToken[][]>;

  /** Every binding of the token or of the account, whatever its state, with every field, by bind time: for people. */
  bindingsOf(appId: number, of: BindingsOf, deadline?: number, after?: string): Promise<Binding[]>;

  /**
   * The position of this instance's last answered write of the app (batch or import), for the
   * answer to carry (x-bindery-lsn) and a later read to send back; undefined where there is one
   * database to read from (SQLite, PostgreSQL without replicas).
   */
  writePosition(appId: number): string | undefined;

  /** Where reads went and how the replicas are, or undefined without replicas. */
  replicaStats(): ReplicaStats | undefined;

  /**
   * All of the app's bindings in key order (token, then account, then account_type, compared
   * bytewise), `pageSize` at a time, as ONE consistent snapshot: what was committed when the first
   * page was read, whatever is written meanwhile. The snapshot is held until the generator ends or
   * is returned (a for-await loop does either), so always finish or return it. `after`: a write
   * position the snapshot must include (read replicas); `fromToken`: start at this token's
   * bindings (an export going on from where one broke off).
   */
  exportBindings(appId: number, pageSize: number, after?: string, fromToken?: string): BindingPages;

  /**
   * Upserts the bindings exactly as given (platform and bound_at kept) in ONE durable transaction,
   * without caps: for copying and restoring data. Binds made later are newer than every imported one.
   * With `slots` (the `tpns` binding rules; at most one binding per token and account_type in
   * `bindings`), a stored binding of the same token and account_type to another account is removed
   * in the same transaction. Answers how many were removed so.
   */
  importBindings(appId: number, bindings: Binding[], slots?: boolean): Promise<number>;

  /** The answer stored under an Idempotency-Key in the last 24 h, if any (for requests other than batches). */
  recallIdempotent(
    appId: number,
    key: string,
    deadline?: number,
  ): Promise<{ bodyHash: string; result: string } | undefined>;

  /** Stores an answer under an Idempotency-Key (replacing an expired one). */
  rememberIdempotent(appId: number, key: IdempotencyKey, result: string, deadline?: number): Promise<void>;

  /** Changes of the app, newest first, optionally of one token or one account, with ids below `beforeId`. */
  history(
    appId: number,
    filter: HistoryFilter,
    limit: number,
    beforeId?: number,
    deadline?: number,
    after?: string,
  ): Promise<HistoryEntry[]>;

  /**
   * For each app with pending webhook events, its oldest pending event if it is due, leased for
   * `leaseMs` so that no other deliverer (in this or another instance) takes it meanwhile.
   * Events of one app are therefore delivered one at a time, in order.
   */
  claimWebhookEvents(now: number, leaseMs: number, limit: number): Promise<WebhookEvent[]>;

  /** Records a delivery attempt and what comes next for the event. */
  completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): Promise<void>;

  /** The app's latest delivery attempts, newest first. */
  webhookDeliveries(appId: number, limit: number): Promise<WebhookDelivery[]>;

  /** Webhook events not yet delivered nor given up, across all apps: how many, and since when. */
  webhookBacklog(): Promise<WebhookBacklog>;

  /** Deletes what is older than the cutoffs; returns how many rows of each kind went. */
  sweep(cutoffs: SweepCutoffs): Promise<SweepCounts>;

  /** Every app's secrets as stored, sealed or not (store/secrets-at-rest.ts seals them at start and rotates them). */
  storedSecrets(): Promise<StoredSecret[]>;

  /** Replaces a stored secret with `value` if it still is `secret.value` (false when the app changed it meanwhile). */
  replaceStoredSecret(secret: StoredSecret, value: string): Promise<boolean>;

  /** Resolves when the store can serve reads and writes now; rejects otherwise, saying why. */
  ping(): Promise<void>;

  /** Resolves once the store has reached its database (at once, unless it started with the database away). */
  whenStarted(): Promise<void>;

  /** Finishes the writes already accepted, then releases every resource. Idempotent. */
  close(): Promise<void>;
}
