/**
 * The PostgreSQL BatchTransaction: one app's part of a group transaction (postgres-writer.ts) that
 * has locked the app's row. Lists travel as arrays, one statement per step whatever their length.
 */
import type pg from 'pg';
import type { TokenPresence } from '../../domain/apply-lifecycle.ts';
import type { HistoryRecord, WebhookEventRecord } from '../../domain/change-records.ts';
import type { AccountKey, Binding } from '../../domain/types.ts';
import type { BatchTransaction, LockedApp, StoredAnswer } from '../batch-transaction.ts';
import { type BindingRow, isPlain, type PolicyColumns, policyOf, rowToBinding, storedLastSeen } from '../rows.ts';
import type { IdempotencyKey } from '../store.ts';
import { SQL } from './postgres-queries.ts';

/** An app row as the group transaction locked it; its clock and revision are saved at the commit. */
export interface AppLock extends PolicyColumns {
  id: number;
  revision: number;
  last_bound_at: number;
  webhook_url: string | null;
}

/** The statements that upsert the bindings (keys distinct): the plain ones with six columns, the others with all ten. */
export function upsertStatements(appId: number, bindings: Binding[]): [sql: string, params: unknown[]][] {
  const plain = bindings.filter(isPlain);
  const full = plain.length === bindings.length ? [] : bindings.filter((b) => !isPlain(b));
  const keys = (list: Binding[]) => [
    appId,
    list.map((b) => b.token),
    list.map((b) => b.account),
    list.map((b) => b.accountType),
    list.map((b) => b.platform),
    list.map((b) => b.boundAt),
  ];
  const statements: [string, unknown[]][] = [];
  if (plain.length > 0) statements.push([SQL.bindingsUpsertPlain, keys(plain)]);
  if (full.length > 0) {
    statements.push([
      SQL.bindingsUpsert,
      [
        ...keys(full),
        full.map(storedLastSeen),
        full.map((b) => b.quarantinedAt),
        full.map((b) => b.quarantineReason),
        full.map((b) => b.expiryWarnedAt),
      ],
    ]);
  }
  return statements;
}

/**
 * What one batch writes (bindings, history, events, its answer), sent as ONE statement once the
 * batch is done: a round trip per batch instead of one per step, which is what a group's time on
 * PostgreSQL went to (BENCHMARKS.md, issue 17). The parts are data-modifying WITH clauses, which
 * all see the state before the statement: that is safe because a batch's net change deletes and
 * upserts distinct keys and the other parts write other tables; the batch's own reads all come
 * before its writes, and the next batch reads only after this is sent.
 */
export class BatchWrites {
  private readonly parts: string[] = [];
  private readonly params: unknown[] = [];

  add(sql: string, params: unknown[]): void {
    const offset = this.params.length;
    this.parts.push(sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`));
    this.params.push(...params);
  }

  /** Sends them, once: a batch's writes are made for that batch and dropped with it. */
  async send(client: pg.PoolClient): Promise<void> {
    if (this.parts.length === 0) return;
    const sql =
      this.parts.length === 1
        ? this.parts[0]!
        : `WITH ${this.parts.map((p, i) => `w${i} AS (${p})`).join(',\n')} SELECT 1`;
    await client.query(sql, this.params);
  }
}

export class PostgresBatchTransaction implements BatchTransaction {
  constructor(
    private readonly client: pg.PoolClient,
    readonly appId: number,
    /** Undefined when the app was not found when the group locked its apps. */
    private readonly lock: AppLock | undefined,
    /** This batch's writes, sent by the group once the batch is done. */
    private readonly writes: BatchWrites,
  ) {}

  lockApp(): LockedApp | undefined {
    const app = this.lock;
    return app && { policy: policyOf(app), hasWebhook: app.webhook_url !== null };
  }

  async recallAnswer(key: string): Promise<StoredAnswer | undefined> {
    const { rows } = await this.client.query<{ body_hash: string; result: string; created_at: number }>(
      SQL.idempotencyGet,
      [this.appId, key],
    );
    const row = rows[0];
    return row && { bodyHash: row.body_hash, result: row.result, createdAt: row.created_at };
  }

  async loadBindings(tokens: string[], accounts: AccountKey[]): Promise<Binding[]> {
    const { rows } = await this.client.query<BindingRow>(SQL.bindingsForBatch, [
      this.appId,
      tokens,
      accounts.map((a) => a.account),
      accounts.map((a) => a.accountType),
    ]);
    return rows.map(rowToBinding);
  }

  async touchTokens(tokens: string[], at: number): Promise<TokenPresence[]> {
    const tokensOf = ({ rows }: { rows: { token: string }[] }) => new Set(rows.map((r) => r.token));
    const active = tokensOf(await this.client.query(SQL.tokensTouch, [this.appId, tokens, at]));
    const rest = tokens.filter((t) => !active.has(t));
    const present = rest.length > 0 ? tokensOf(await this.client.query(SQL.tokensPresent, [this.appId, rest])) : null;
    return tokens.map((t) => (active.has(t) ? 'active' : present?.has(t) ? 'quarantined' : 'absent'));
  }

  async dueToPurge(before: number, limit: number): Promise<string[]> {
    const { rows } = await this.client.query<{ token: string }>(SQL.dueToPurge, [this.appId, before, limit]);
    return rows.map((r) => r.token);
  }

  /** The app's own clock: rows of one app are locked together, so per-app order is all that is needed. */
  nextBoundAt(): number {
    const app = this.lock!;
    app.last_bound_at = Math.max(Date.now() * 1000, app.last_bound_at + 1);
    return app.last_bound_at;
  }

  writeBindings(upserts: Binding[], deletes: Binding[]): void {
    if (deletes.length > 0) {
      this.writes.add(SQL.bindingsDelete, [
        this.appId,
        deletes.map((b) => b.token),
        deletes.map((b) => b.account),
        deletes.map((b) => b.accountType),
      ]);
    }
    for (const [sql, params] of upsertStatements(this.appId, upserts)) this.writes.add(sql, params);
  }

  appendHistory(records: HistoryRecord[]): void {
    const column = <K extends keyof HistoryRecord>(key: K) => records.map((h) => h[key]);
    this.writes.add(SQL.historyInsert, [
      this.appId,
      column('at'),
      column('operatorType'),
      column('cause'),
      column('token'),
      column('account'),
      column('accountType'),
      column('platform'),
      column('opType'),
      column('opId'),
      column('requestId'),
    ]);
  }

  appendEvents(events: WebhookEventRecord[], at: number): void {
    this.writes.add(SQL.outboxInsert, [this.appId, events.map((e) => e.type), events.map((e) => e.payload), at]);
  }

  nextRevision(): number {
    return ++this.lock!.revision;
  }

  rememberAnswer(key: IdempotencyKey, result: string, at: number): void {
    this.writes.add(SQL.idempotencyPut, [this.appId, key.key, key.bodyHash, result, at]);
  }
}
