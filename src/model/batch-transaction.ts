/**
 * The narrow interface each backend implements for a batch: one app's part of a transaction the
 * store has opened (and will commit or roll back). The rules (src/domain/run-batch.ts) call these
 * in order and decide everything; a backend only reads and writes what it is told. Locking, group
 * commit and retries stay inside the store, around these calls.
 *
 * A method may answer at once (SQLite's writer thread, where every statement is synchronous) or
 * with a promise (PostgreSQL).
 */
import type { ElementOutcome, HistoryRecord, RewindRow, TokenPresence, WebhookEventRecord } from './outcomes.ts';
import type { AccountKey, AppPolicy, Binding, WriteCommand } from './types.ts';

/** What a batch answers: one outcome per element, and the app's write revision after this batch. */
export interface BatchResult {
  outcomes: ElementOutcome[];
  /**
   * Strictly increasing per app: batches of one app were applied in the order of their revisions.
   * 0 for a sweep that changed nothing (it takes no revision).
   */
  revision: number;
  /** True when an Idempotency-Key matched: this is the stored answer and nothing was applied again. */
  replayed?: boolean;
  /** A rewind's bindings brought back and removed (or, for a dry run, that would be). */
  rewind?: { bind: number; unbind: number; dryRun: boolean };
}

/** An Idempotency-Key and the hash of the body it came with. */
export interface IdempotencyKey {
  key: string;
  bodyHash: string;
}

/** How long an Idempotency-Key is remembered. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000;

export type Awaitable<T> = T | Promise<T>;

/**
 * The app as this transaction holds it: its policy cannot change, nor the app be deleted, until
 * this one has committed; no other write of what this batch touches can commit before it either.
 */
export interface LockedApp {
  policy: AppPolicy;
  /** Whether the app has a webhook, so that its changes become events. */
  hasWebhook: boolean;
  /**
   * Unix ms from which the app's history holds every change: 0 for an app made by this release
   * (it had nothing before), else the last import, history trimmed by retention, or the upgrade
   * that began keeping what a rewind needs; null: unknown (an older release made the app).
   */
  historyFrom: number | null;
}

/** An answer remembered under an Idempotency-Key. */
export interface StoredAnswer {
  bodyHash: string;
  /** The BatchResult, as JSON text. */
  result: string;
  /** Unix ms. */
  createdAt: number;
}

export interface BatchTransaction {
  /** The app this part of the transaction writes. */
  readonly appId: number;
  /** Locks the app until the commit and reads its policy; undefined when the app does not exist. */
  lockApp(): Awaitable<LockedApp | undefined>;
  /** The answer remembered under this key, of any age. */
  recallAnswer(key: string): Awaitable<StoredAnswer | undefined>;
  /** Every binding of these tokens and of these accounts. */
  loadBindings(tokens: string[], accounts: AccountKey[]): Awaitable<Binding[]>;
  /**
   * Sets last_seen_at of these tokens' active bindings to `at` (Unix ms) and clears their expiry
   * warning; answers, per token in order, whether it had active bindings, only quarantined ones,
   * or none.
   */
  touchTokens(tokens: string[], at: number): Awaitable<TokenPresence[]>;
  /** Up to `limit` history entries of the app written after `at` (Unix ms), oldest first. */
  historyAfter(at: number, limit: number): Awaitable<RewindRow[]>;
  /** Up to `limit` distinct tokens with a binding quarantined before `before` (Unix ms). */
  dueToPurge(before: number, limit: number): Awaitable<string[]>;
  /**
   * The next bind time, in microseconds: later than every binding of the keys this batch loaded,
   * so each token's and each account's bindings are in the order they were bound (SQLite's single
   * writer makes it strictly increasing across the store).
   */
  nextBoundAt(): number;
  /** Upserts these bindings as given (every field) and deletes those. */
  writeBindings(upserts: Binding[], deletes: Binding[]): Awaitable<void>;
  appendHistory(records: HistoryRecord[]): Awaitable<void>;
  /** `at`: Unix ms; the events are due at once. */
  appendEvents(events: WebhookEventRecord[], at: number): Awaitable<void>;
  /**
   * Takes the app's next write revision. A store that numbers a group's batches only as it commits
   * (PostgreSQL) answers 0 here and sets the result's revision then.
   */
  nextRevision(): Awaitable<number>;
  /**
   * Remembers the answer under the key, replacing an expired one, as the result is once the batch
   * commits (with its revision). `at`: Unix ms.
   */
  rememberAnswer(key: IdempotencyKey, result: BatchResult, at: number): Awaitable<void>;
}

/**
 * What a write can touch, known before it runs, for a store that locks less than the whole app
 * (PostgreSQL): the bindings of these tokens and accounts, and its Idempotency-Key; or 'app' when
 * it reads what no key names (a sweep's due tokens) or writes in place (a seen).
 */
export type WriteScope = { tokens: string[]; accounts: AccountKey[] } | 'app';

/** What the rules export for a store to run inside its transactions. */
export interface WriteRules {
  runBatch(tx: BatchTransaction, command: WriteCommand, idempotency?: IdempotencyKey): Promise<BatchResult>;
  scopeOf(command: WriteCommand): WriteScope;
}

/**
 * Where the rules are: the URL of their module rather than a function, because the SQLite store
 * runs them on its writer thread, which loads the module itself. The rules hand it to the store
 * with each batch (src/domain/run-batch.ts); the store never imports a rule.
 */
export type WriteRulesModule = string;

/** A batch, as the rules ask a store to lend it a transaction. */
export interface BatchRequest {
  appId: number;
  command: WriteCommand;
  idempotency?: IdempotencyKey;
}

const loaded = new Map<WriteRulesModule, Promise<WriteRules>>();

/** The rules exported by the module, loaded once per thread. */
export function loadWriteRules(module: WriteRulesModule): Promise<WriteRules> {
  let rules = loaded.get(module);
  if (!rules) {
    rules = import(module).then(({ runBatch, scopeOf }: Partial<WriteRules>) => {
      if (typeof runBatch !== 'function' || typeof scopeOf !== 'function')
        throw new Error(`${module} exports no runBatch and scopeOf: it is not write rules`);
      return { runBatch, scopeOf };
    });
    loaded.set(module, rules);
  }
  return rules;
}
