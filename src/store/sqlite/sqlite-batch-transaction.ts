/**
 * The SQLite BatchTransaction: one app's part of the writer thread's transaction (BEGIN IMMEDIATE
 * holds the whole database, so the app is locked by then). Every call answers at once.
 */

import type { Statement } from 'better-sqlite3';
import type {
  BatchResult,
  BatchTransaction,
  IdempotencyKey,
  LockedApp,
  StoredAnswer,
} from '../../model/batch-transaction.ts';
import type { HistoryRecord, RewindRow, TokenPresence, WebhookEventRecord } from '../../model/outcomes.ts';
import type { AccountKey, Binding } from '../../model/types.ts';
import {
  type AppRow,
  type BindingRow,
  bindingParams,
  historyParams,
  isPlain,
  policyOf,
  type RewindRowColumns,
  rowToBinding,
  rowToRewind,
} from '../rows.ts';
import type { Statements } from './sqlite-connection.ts';
import { LOAD_KEYS } from './sqlite-queries.ts';

export class SqliteBatchTransaction implements BatchTransaction {
  constructor(
    private readonly stmt: Statements,
    readonly appId: number,
    /** The writer's bind clock: one for the whole store, saved when the transaction commits. */
    readonly nextBoundAt: () => number,
  ) {}

  lockApp(): LockedApp | undefined {
    const row = this.stmt.appById.get(this.appId) as AppRow | undefined;
    return row && { policy: policyOf(row), hasWebhook: row.webhook_url !== null, historyFrom: row.history_from };
  }

  recallAnswer(key: string): StoredAnswer | undefined {
    const row = this.stmt.idempotencyGet.get(this.appId, key) as
      | { body_hash: string; result: string; created_at: number }
      | undefined;
    return row && { bodyHash: row.body_hash, result: row.result, createdAt: row.created_at };
  }

  loadBindings(tokens: string[], accounts: AccountKey[]): Binding[] {
    return [
      ...this.loadByKeys(this.stmt.bindingsOfTokens, tokens, (token) => [token]),
      ...this.loadByKeys(this.stmt.bindingsOfAccounts, accounts, (key) => [key.account, key.accountType]),
    ];
  }

  /** LOAD_KEYS keys a statement, the last chunk filled with its last key (an IN list ignores repeats). */
  private loadByKeys<K>(statement: Statement, keys: K[], paramsOf: (key: K) => unknown[]): Binding[] {
    const found: Binding[] = [];
    for (let from = 0; from < keys.length; from += LOAD_KEYS) {
      const params: unknown[] = [this.appId];
      for (let k = 0; k < LOAD_KEYS; k++) params.push(...paramsOf(keys[Math.min(from + k, keys.length - 1)]!));
      for (const row of statement.all(params) as BindingRow[]) found.push(rowToBinding(row));
    }
    return found;
  }

  touchTokens(tokens: string[], at: number): TokenPresence[] {
    return tokens.map((token) => {
      if (this.stmt.tokensTouch.run(at, this.appId, token).changes > 0) return 'active';
      return this.stmt.tokensPresent.get(this.appId, token) ? 'quarantined' : 'absent';
    });
  }

  historyAfter(at: number, limit: number): RewindRow[] {
    return (this.stmt.historyAfter.all(this.appId, at, limit) as RewindRowColumns[]).map(rowToRewind);
  }

  dueToPurge(before: number, limit: number): string[] {
    return this.stmt.dueToPurge.pluck().all(this.appId, before, limit) as string[];
  }

  writeBindings(upserts: Binding[], deletes: Binding[]): void {
    for (const b of deletes) this.stmt.bindingsDelete.run(this.appId, b.token, b.account, b.accountType);
    for (const b of upserts) {
      if (isPlain(b))
        this.stmt.bindingsUpsertPlain.run(this.appId, b.token, b.account, b.accountType, b.platform, b.boundAt);
      else this.stmt.bindingsUpsert.run(this.appId, ...bindingParams(b));
    }
  }

  appendHistory(records: HistoryRecord[]): void {
    for (const record of records) this.stmt.historyInsert.run(...historyParams(this.appId, record));
  }

  appendEvents(events: WebhookEventRecord[], at: number): void {
    for (const event of events) this.stmt.outboxInsert.run(this.appId, event.type, event.payload, at, at);
  }

  nextRevision(): number {
    return (this.stmt.appsTakeRevisions.get(this.appId) as { revision: number }).revision;
  }

  rememberAnswer(key: IdempotencyKey, result: BatchResult, at: number): void {
    this.stmt.idempotencyPut.run(this.appId, key.key, key.bodyHash, JSON.stringify(result), at);
  }
}
