/**
 * The one writing connection of a SQLite store. It runs in a worker thread so that a commit's fsync
 * never blocks the event loop, and it applies a whole group of commands in ONE transaction (group
 * commit): each command inside its own savepoint, so a failing command changes nothing while the
 * others still commit together.
 */
import Database from 'better-sqlite3';
import { applyBatch } from '../../domain/apply-batch.ts';
import { BindingSet, keysToLoad, netChanges } from '../../domain/binding-set.ts';
import type { App, BatchCommand, Binding } from '../../domain/types.ts';
import { AppExistsError, AppNotFoundError } from '../../errors.ts';
import type { AppPatch, BatchResult, NewApp } from '../store.ts';
import { rowToApp, rowToBinding, type AppRow, type BindingRow } from '../rows.ts';
import { SQL } from './sqlite-queries.ts';

export type WriteCommand =
  | { type: 'applyBatch'; appId: number; command: BatchCommand }
  | { type: 'createApp'; app: NewApp }
  | { type: 'updateApp'; accessId: string; patch: AppPatch }
  | { type: 'deleteApp'; accessId: string }
  | { type: 'importBindings'; appId: number; bindings: Binding[] };

/** What crosses the thread boundary for a failed command. */
export interface SerializedError {
  name: string;
  message: string;
  accessId?: string;
}

export type WriteResult = { ok: true; value: unknown } | { ok: false; error: SerializedError };

export function openSqliteConnection(path: string): Database.Database {
  const db = new Database(path);
  for (const pragma of SQL.pragmas) db.pragma(pragma);
  return db;
}

export class SqliteWriter {
  private readonly db: Database.Database;
  private readonly stmt;
  private lastBoundAt = 0;

  constructor(path: string) {
    this.db = openSqliteConnection(path);
    const p = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      appByAccessId: p(SQL.appByAccessId),
      appById: p(SQL.appById),
      appInsert: p(SQL.appInsert),
      appUpdate: p(SQL.appUpdate),
      appDelete: p(SQL.appDelete),
      appBindingsDelete: p(SQL.appBindingsDelete),
      appNextRevision: p(SQL.appNextRevision),
      bindingsOfToken: p(SQL.bindingsOfToken),
      bindingsOfAccount: p(SQL.bindingsOfAccount),
      bindingPut: p(SQL.bindingPut),
      bindingDelete: p(SQL.bindingDelete),
      clockGet: p(SQL.clockGet),
      clockSet: p(SQL.clockSet),
    };
  }

  /** Runs the commands in one transaction and returns one result per command. Throws if the commit fails. */
  runGroup(commands: WriteCommand[]): WriteResult[] {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.lastBoundAt = (this.stmt.clockGet.get() as { last_bound_at: number }).last_bound_at;
      const startClock = this.lastBoundAt;
      const results = commands.map((command) => this.runInSavepoint(command));
      if (this.lastBoundAt !== startClock) this.stmt.clockSet.run(this.lastBoundAt);
      this.db.exec('COMMIT');
      return results;
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  close(): void {
    this.db.close();
  }

  private runInSavepoint(command: WriteCommand): WriteResult {
    const clockBefore = this.lastBoundAt;
    this.db.exec('SAVEPOINT command');
    try {
      const value = this.run(command);
      this.db.exec('RELEASE command');
      return { ok: true, value };
    } catch (error) {
      this.db.exec('ROLLBACK TO command');
      this.db.exec('RELEASE command');
      this.lastBoundAt = clockBefore;
      const e = error instanceof Error ? error : new Error(String(error));
      return { ok: false, error: { name: e.name, message: e.message, ...('accessId' in e ? { accessId: String(e.accessId) } : {}) } };
    }
  }

  private run(command: WriteCommand): unknown {
    switch (command.type) {
      case 'applyBatch':
        return this.applyBatch(command.appId, command.command);
      case 'createApp':
        return this.createApp(command.app);
      case 'updateApp':
        return this.updateApp(command.accessId, command.patch);
      case 'deleteApp':
        return this.deleteApp(command.accessId);
      case 'importBindings':
        return this.importBindings(command.appId, command.bindings);
    }
  }

  private readonly clock = (): number => {
    this.lastBoundAt = Math.max(Date.now() * 1000, this.lastBoundAt + 1);
    return this.lastBoundAt;
  };

  private applyBatch(appId: number, command: BatchCommand): BatchResult {
    const app = this.stmt.appNextRevision.get(appId) as
      | { revision: number; max_tokens_per_account: number; max_accounts_per_token: number }
      | undefined;
    if (!app) throw new AppNotFoundError(String(appId));
    const policy = { maxTokensPerAccount: app.max_tokens_per_account, maxAccountsPerToken: app.max_accounts_per_token };
    const { tokens, accounts } = keysToLoad(command);
    const set = new BindingSet();
    for (const token of tokens) {
      for (const row of this.stmt.bindingsOfToken.all(appId, token) as BindingRow[]) set.add(rowToBinding(row));
    }
    for (const key of accounts) {
      for (const row of this.stmt.bindingsOfAccount.all(appId, key.account, key.accountType) as BindingRow[]) {
        set.add(rowToBinding(row));
      }
    }
    const { outcomes, changes } = applyBatch(set, command, policy, this.clock);
    const { upserts, deletes } = netChanges(set, changes);
    for (const b of deletes) this.stmt.bindingDelete.run(appId, b.token, b.account, b.accountType);
    for (const b of upserts) this.stmt.bindingPut.run(appId, b.token, b.account, b.accountType, b.platform, b.boundAt);
    return { outcomes, revision: app.revision };
  }

  private importBindings(appId: number, bindings: Binding[]): void {
    if (!this.stmt.appById.get(appId)) throw new AppNotFoundError(String(appId));
    for (const b of bindings) {
      this.stmt.bindingPut.run(appId, b.token, b.account, b.accountType, b.platform, b.boundAt);
      // Later binds must sort after everything imported.
      if (b.boundAt > this.lastBoundAt) this.lastBoundAt = b.boundAt;
    }
  }

  private createApp(app: NewApp): App {
    if (this.stmt.appByAccessId.get(app.accessId)) throw new AppExistsError(app.accessId);
    const { lastInsertRowid } = this.stmt.appInsert.run({
      accessId: app.accessId,
      name: app.name,
      secretKey: app.secretKey,
      maxTokensPerAccount: app.policy.maxTokensPerAccount,
      maxAccountsPerToken: app.policy.maxAccountsPerToken,
      createdAt: Date.now(),
    });
    return rowToApp(this.stmt.appById.get(lastInsertRowid) as AppRow);
  }

  private updateApp(accessId: string, patch: AppPatch): App | undefined {
    const row = this.stmt.appByAccessId.get(accessId) as AppRow | undefined;
    if (!row) return undefined;
    const app = rowToApp(row);
    const next = {
      accessId,
      name: patch.name ?? app.name,
      secretKey: patch.secretKey ?? app.secretKey,
      previousSecretKey: patch.previousSecretKey !== undefined ? patch.previousSecretKey : app.previousSecretKey,
      previousSecretExpiresAt:
        patch.previousSecretExpiresAt !== undefined ? patch.previousSecretExpiresAt : app.previousSecretExpiresAt,
      maxTokensPerAccount: patch.policy?.maxTokensPerAccount ?? app.policy.maxTokensPerAccount,
      maxAccountsPerToken: patch.policy?.maxAccountsPerToken ?? app.policy.maxAccountsPerToken,
    };
    this.stmt.appUpdate.run(next);
    return rowToApp(this.stmt.appByAccessId.get(accessId) as AppRow);
  }

  private deleteApp(accessId: string): boolean {
    const row = this.stmt.appByAccessId.get(accessId) as AppRow | undefined;
    if (!row) return false;
    this.stmt.appBindingsDelete.run(row.id);
    this.stmt.appDelete.run(row.id);
    return true;
  }
}
