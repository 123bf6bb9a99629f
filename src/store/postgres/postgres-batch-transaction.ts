/**
 * The PostgreSQL BatchTransaction: one batch's part of a group transaction (postgres-writer.ts)
 * that holds the app shared and the keys the batch names (postgres-locks.ts). Lists travel as
 * arrays, one statement per step whatever their length.
 */
import type pg from 'pg';
import type {
  BatchResult,
  BatchTransaction,
  IdempotencyKey,
  LockedApp,
  StoredAnswer,
} from '../../model/batch-transaction.ts';
import type { HistoryRecord, RewindRow, TokenPresence, WebhookEventRecord } from '../../model/outcomes.ts';
import type { AccountKey, Binding } from '../../model/types.ts';
import { type PolicyColumns, policyOf, type RewindRowColumns, rowToRewind } from '../rows.ts';
import type { GroupBindings } from './postgres-group-bindings.ts';
import { accountLock, type GroupLocks, idempotencyLock, KeysTaken, tokenLock } from './postgres-locks.ts';
import { SQL } from './postgres-queries.ts';

/** An app row as the group transaction read it once it held the app; its clock is raised at the commit. */
export interface AppLock extends PolicyColumns {
  id: number;
  last_bound_at: number;
  webhook_url: string | null;
  history_from: number | null;
}

/**
 * What a batch leaves to the group's end, which runs holding the app's row: whether it takes a
 * revision, its answer to remember (which carries the revision), and its webhook events (so that
 * the outbox of an app is in commit order, as they are delivered).
 */
export interface BatchEnd {
  takesRevision: boolean;
  answer?: { key: IdempotencyKey; result: BatchResult; at: number };
  events?: { list: WebhookEventRecord[]; at: number };
}

export class PostgresBatchTransaction implements BatchTransaction {
  readonly end: BatchEnd = { takesRevision: false };
  /** Bind times must pass every binding this batch loaded: those of its keys, whoever bound them. */
  private floor = 0;

  constructor(
    private readonly client: pg.PoolClient,
    readonly appId: number,
    /** Undefined when the app was not found when the group locked its apps. */
    private readonly lock: AppLock | undefined,
    /** The app's bindings as the group sees them, and where this batch's changes go. */
    private readonly bindings: GroupBindings,
    private readonly locks: GroupLocks,
  ) {}

  /**
   * Holds these keys before the batch reads or writes bindings of them; throws KeysTaken (nothing
   * written) when another transaction has one. The group took the keys a batch names at its
   * start, so this only goes to the database for the far ends of what it writes.
   */
  private async hold(keys: number[]): Promise<void> {
    const missing = this.locks.missing(this.appId, keys);
    if (missing.length === 0) return;
    const taken = await this.locks.attempt(missing.map((key) => [this.appId, key]));
    if (taken.size > 0) throw new KeysTaken(missing);
  }

  lockApp(): LockedApp | undefined {
    const app = this.lock;
    return app && { policy: policyOf(app), hasWebhook: app.webhook_url !== null, historyFrom: app.history_from };
  }

  async recallAnswer(key: string): Promise<StoredAnswer | undefined> {
    await this.hold([idempotencyLock(key)]);
    const { rows } = await this.client.query<{ body_hash: string; result: string; created_at: number }>(
      SQL.idempotencyGet,
      [this.appId, key],
    );
    const row = rows[0];
    return row && { bodyHash: row.body_hash, result: row.result, createdAt: row.created_at };
  }

  async loadBindings(tokens: string[], accounts: AccountKey[]): Promise<Binding[]> {
    await this.hold([...tokens.map(tokenLock), ...accounts.map(accountLock)]);
    // The group loaded the keys its batches name; a key it did not (a sweep's due tokens) loads now.
    if (!this.bindings.isLoaded(tokens, accounts)) await this.bindings.load(tokens, accounts);
    const bindings = this.bindings.bindingsOf(tokens, accounts);
    for (const b of bindings) if (b.boundAt > this.floor) this.floor = b.boundAt;
    return bindings;
  }

  /** In place, in the database: what the group has pending goes first, and what it kept is read again later. */
  async touchTokens(tokens: string[], at: number): Promise<TokenPresence[]> {
    await this.bindings.send();
    this.bindings.forget();
    const tokensOf = ({ rows }: { rows: { token: string }[] }) => new Set(rows.map((r) => r.token));
    const active = tokensOf(await this.client.query(SQL.tokensTouch, [this.appId, tokens, at]));
    const rest = tokens.filter((t) => !active.has(t));
    const present = rest.length > 0 ? tokensOf(await this.client.query(SQL.tokensPresent, [this.appId, rest])) : null;
    return tokens.map((t) => (active.has(t) ? 'active' : present?.has(t) ? 'quarantined' : 'absent'));
  }

  /** After what the group has pending (earlier batches' history among it): the whole app is this batch's. */
  async historyAfter(at: number, limit: number): Promise<RewindRow[]> {
    await this.bindings.send();
    const { rows } = await this.client.query<RewindRowColumns>(SQL.historyAfter, [this.appId, at, limit]);
    return rows.map(rowToRewind);
  }

  async dueToPurge(before: number, limit: number): Promise<string[]> {
    await this.bindings.send();
    const { rows } = await this.client.query<{ token: string }>(SQL.dueToPurge, [this.appId, before, limit]);
    return rows.map((r) => r.token);
  }

  /**
   * Later than every binding of the keys this batch holds (so the order of each token's and each
   * account's bindings is the order they were bound in, whichever instance bound them) and than
   * the app's clock as the group read it (so binds sort after an import).
   */
  nextBoundAt(): number {
    const app = this.lock!;
    app.last_bound_at = Math.max(Date.now() * 1000, app.last_bound_at + 1, this.floor + 1);
    return app.last_bound_at;
  }

  /** Holds both ends of every binding it writes first: the far ends are what a batch does not name. */
  async writeBindings(upserts: Binding[], deletes: Binding[]): Promise<void> {
    const ends: number[] = [];
    for (const b of upserts) ends.push(tokenLock(b.token), accountLock(b));
    for (const b of deletes) ends.push(tokenLock(b.token), accountLock(b));
    await this.hold(ends);
    this.bindings.write(upserts, deletes);
  }

  appendHistory(records: HistoryRecord[]): void {
    this.bindings.appendHistory(records);
  }

  appendEvents(events: WebhookEventRecord[], at: number): void {
    this.end.events = { list: events, at };
  }

  /** Numbered by the group as it commits (postgres-writer.ts): revision order is commit order. */
  nextRevision(): number {
    this.end.takesRevision = true;
    return 0;
  }

  rememberAnswer(key: IdempotencyKey, result: BatchResult, at: number): void {
    this.end.answer = { key, result, at };
  }
}
