/**
 * The one writing connection of a SQLite store. It runs in a worker thread so that a commit's fsync
 * never blocks the event loop, and it applies a whole group of commands in ONE transaction (group
 * commit): each command inside its own savepoint, so a failing command changes nothing while the
 * others still commit together.
 */
import type Database from 'better-sqlite3';
import type { IdempotencyKey } from '../../model/batch-transaction.ts';
import {
  type BatchRequest,
  loadWriteRules,
  type WriteRules,
  type WriteRulesModule,
} from '../../model/batch-transaction.ts';
import { AppExistsError, AppNotFoundError } from '../../model/errors.ts';
import type {
  AppPatch,
  DeliveryOutcome,
  NewApp,
  StoredSecret,
  SweepCounts,
  SweepCutoffs,
  WebhookEvent,
} from '../../model/store.ts';
import type { App, Binding, Platform } from '../../model/types.ts';
import { batchWeight, type FairShare, GROUP_BUDGET } from '../group-commit.ts';
import {
  type AppRow,
  deliveryParams,
  isPlain,
  type OutboxRow,
  outboxCompleteParams,
  patchedAppColumns,
  rowToApp,
  rowToWebhookEvent,
  storedLastSeen,
} from '../rows.ts';
import { SqliteBatchTransaction } from './sqlite-batch-transaction.ts';
import {
  fileIdentity,
  lazyStatements,
  openSqliteConnection,
  type SqliteSynchronous,
  type Statements,
} from './sqlite-connection.ts';
import { SQL, UPSERT_ROWS } from './sqlite-queries.ts';

export type WriteCommand =
  /** The rules of the module `rules` run the batch, inside this command's savepoint. */
  | { type: 'runBatch'; rules: WriteRulesModule; batch: BatchRequest }
  | { type: 'createApp'; app: NewApp }
  | { type: 'updateApp'; accessId: string; patch: AppPatch }
  | { type: 'deleteApp'; accessId: string }
  | { type: 'importBindings'; appId: number; bindings: BindingColumns; slots: boolean }
  | { type: 'claimWebhookEvents'; now: number; leaseMs: number; limit: number }
  | { type: 'completeWebhookEvent'; event: WebhookEvent; outcome: DeliveryOutcome }
  | { type: 'sweep'; cutoffs: SweepCutoffs; limit: number }
  | { type: 'rememberIdempotent'; appId: number; key: IdempotencyKey; result: string }
  /** secrets-at-rest.ts: one stored secret, if it is still what it was read as. */
  | { type: 'replaceSecret'; secret: StoredSecret; value: string }
  /** A real write that changes nothing: readiness proves a commit (WAL append and fsync) works now. */
  | { type: 'probe' };

/** A group's fair shares (group-commit.ts): by app, weighed by the bindings a command names. */
export const WRITE_SHARE: FairShare<WriteCommand> = {
  // Commands of no app's batch (apps' changes, webhooks, sweeps) are few: each kind takes its turn.
  tenantOf: (c) => (c.type === 'runBatch' ? c.batch.appId : 'appId' in c ? c.appId : c.type),
  weightOf: (c) =>
    c.type === 'runBatch' ? batchWeight(c.batch.command) : c.type === 'importBindings' ? c.bindings.tokens.length : 1,
  budget: GROUP_BUDGET,
};

/** Bindings as columns: 5,000 of them cross to the writer thread in ~0.6 ms, as objects in ~4 ms. */
export interface BindingColumns {
  tokens: string[];
  accounts: string[];
  accountTypes: Float64Array;
  platforms: (Platform | null)[];
  boundAt: Float64Array;
  /** Only when a binding is not plain (rows.ts isPlain): what the others leave NULL. */
  lifecycle?: {
    /** As stored: null when it is the bind time. */
    lastSeenAt: (number | null)[];
    quarantinedAt: (number | null)[];
    quarantineReasons: (string | null)[];
    expiryWarnedAt: (number | null)[];
  };
}

export const toColumns = (bindings: Binding[]): BindingColumns => ({
  tokens: bindings.map((b) => b.token),
  accounts: bindings.map((b) => b.account),
  accountTypes: Float64Array.from(bindings, (b) => b.accountType),
  platforms: bindings.map((b) => b.platform),
  boundAt: Float64Array.from(bindings, (b) => b.boundAt),
  ...(bindings.every(isPlain)
    ? {}
    : {
        lifecycle: {
          lastSeenAt: bindings.map(storedLastSeen),
          quarantinedAt: bindings.map((b) => b.quarantinedAt),
          quarantineReasons: bindings.map((b) => b.quarantineReason),
          expiryWarnedAt: bindings.map((b) => b.expiryWarnedAt),
        },
      }),
});

/** Row `i` of the columns as upsert parameters (app_id first), written into `params` from `at`. */
function putRow(params: unknown[], at: number, appId: number, c: BindingColumns, i: number, plain: boolean): void {
  params[at] = appId;
  params[at + 1] = c.tokens[i];
  params[at + 2] = c.accounts[i];
  params[at + 3] = c.accountTypes[i];
  params[at + 4] = c.platforms[i];
  params[at + 5] = c.boundAt[i];
  const lifecycle = c.lifecycle;
  if (plain || !lifecycle) return;
  params[at + 6] = lifecycle.lastSeenAt[i];
  params[at + 7] = lifecycle.quarantinedAt[i];
  params[at + 8] = lifecycle.quarantineReasons[i];
  params[at + 9] = lifecycle.expiryWarnedAt[i];
}
const PLAIN_PARAMS = 6;
const ROW_PARAMS = 10;
const isPlainRow = ({ lifecycle: l }: BindingColumns, i: number) =>
  !l || (l.lastSeenAt[i] === null && l.quarantinedAt[i] === null && l.expiryWarnedAt[i] === null);

/** What crosses the thread boundary for a failed command. */
export interface SerializedError {
  name: string;
  message: string;
  accessId?: string;
  key?: string;
  /** SQLite's error code (SQLITE_FULL …), when SQLite raised it. */
  code?: string;
}

export type WriteResult = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/** A write refused because the file at the path is no longer the one this writer has open. */
export class DatabaseFileGoneError extends Error {
  override name = 'DatabaseFileGoneError';
}

export class SqliteWriter {
  private readonly db: Database.Database;
  private readonly stmt: Statements;
  private lastBoundAt = 0;
  /** The file this writer opened: if the path later names another file (or none), writes would be lost. */
  private readonly identity: string | null;

  /** Write rules by module, loaded on this thread the first time a batch names them. */
  private readonly rules = new Map<WriteRulesModule, WriteRules>();

  constructor(
    private readonly path: string,
    synchronous: SqliteSynchronous = 'FULL',
  ) {
    this.db = openSqliteConnection(path, undefined, synchronous);
    this.identity = fileIdentity(path);
    this.stmt = lazyStatements(this.db);
  }

  /**
   * Runs the commands in one transaction and returns one result per command. Throws if the commit
   * fails. Every statement is synchronous, so the awaits below only pass answers along: nothing
   * else runs on this thread until the group is committed (the thread entry also waits for it).
   */
  async runGroup(commands: WriteCommand[]): Promise<WriteResult[]> {
    // A deleted or replaced file still takes writes (its inode lives on while open) and loses them
    // all at the next start: refuse instead. One stat per group (~3 µs).
    if (fileIdentity(this.path) !== this.identity) {
      throw new DatabaseFileGoneError(
        `the database file ${this.path} was deleted or replaced while bindery had it open; ` +
          'writes are refused so that none is lost: restore the file or restart bindery',
      );
    }
    // Loaded before the transaction begins, so that it holds the database only for its statements.
    for (const command of commands) {
      if (command.type === 'runBatch' && !this.rules.has(command.rules)) {
        this.rules.set(command.rules, await loadWriteRules(command.rules));
      }
    }
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.lastBoundAt = (this.stmt.clockGet.get() as { last_bound_at: number }).last_bound_at;
      const startClock = this.lastBoundAt;
      const results: WriteResult[] = [];
      for (const command of commands) results.push(await this.runInSavepoint(command));
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

  private async runInSavepoint(command: WriteCommand): Promise<WriteResult> {
    const clockBefore = this.lastBoundAt;
    this.db.exec('SAVEPOINT command');
    try {
      const value = await this.run(command);
      this.db.exec('RELEASE command');
      return { ok: true, value };
    } catch (error) {
      this.db.exec('ROLLBACK TO command');
      this.db.exec('RELEASE command');
      this.lastBoundAt = clockBefore;
      const e = error instanceof Error ? error : new Error(String(error));
      const extra = {
        ...('accessId' in e ? { accessId: String(e.accessId) } : {}),
        ...('key' in e ? { key: String(e.key) } : {}),
        ...('code' in e ? { code: String(e.code) } : {}),
      };
      return { ok: false, error: { name: e.name, message: e.message, ...extra } };
    }
  }

  private run(command: WriteCommand): unknown {
    switch (command.type) {
      case 'runBatch': {
        const { appId, command: batch, idempotency } = command.batch;
        const tx = new SqliteBatchTransaction(this.stmt, appId, this.clock);
        return this.rules.get(command.rules)!.runBatch(tx, batch, idempotency);
      }
      case 'createApp':
        return this.createApp(command.app);
      case 'updateApp':
        return this.updateApp(command.accessId, command.patch);
      case 'deleteApp':
        return this.deleteApp(command.accessId);
      case 'importBindings':
        return this.importBindings(command.appId, command.bindings, command.slots);
      case 'claimWebhookEvents':
        return this.claimWebhookEvents(command.now, command.leaseMs, command.limit);
      case 'completeWebhookEvent':
        return this.completeWebhookEvent(command.event, command.outcome);
      case 'sweep':
        return this.sweep(command.cutoffs, command.limit);
      case 'probe':
        return void this.stmt.clockTouch.run();
      case 'replaceSecret': {
        const { secret, value } = command;
        const { column, accessId, value: was } = secret;
        const replaced = this.stmt.secretReplace.run({ column, value, accessId, was }).changes > 0;
        return replaced;
      }
      case 'rememberIdempotent':
        return void this.stmt.idempotencyPut.run(
          command.appId,
          command.key.key,
          command.key.bodyHash,
          command.result,
          Date.now(),
        );
    }
  }

  private readonly clock = (): number => {
    this.lastBoundAt = Math.max(Date.now() * 1000, this.lastBoundAt + 1);
    return this.lastBoundAt;
  };

  private importBindings(appId: number, rows: BindingColumns, slots: boolean): number {
    if (!this.stmt.appById.get(appId)) throw new AppNotFoundError(String(appId));
    // An import writes no history: a rewind can go back no further than now.
    this.stmt.appHistoryFrom.run(Date.now(), appId);
    const { tokens, boundAt } = rows;
    const count = tokens.length;
    let replaced = 0;
    if (slots) {
      for (let i = 0; i < count; i++)
        replaced += this.stmt.bindingsOfSlotOthersDelete.run(
          appId,
          tokens[i],
          rows.accountTypes[i],
          rows.accounts[i],
        ).changes;
    }
    // Plain rows (most) go UPSERT_ROWS to a statement with six parameters each; a row with lifecycle
    // fields goes alone with ten, after the plain rows before it, so rows still apply in order.
    const many: unknown[] = new Array(UPSERT_ROWS * PLAIN_PARAMS);
    const one: unknown[] = new Array(ROW_PARAMS);
    const writePlain = (from: number, to: number) => {
      for (; from + UPSERT_ROWS <= to; from += UPSERT_ROWS) {
        for (let k = 0; k < UPSERT_ROWS; k++) putRow(many, k * PLAIN_PARAMS, appId, rows, from + k, true);
        this.stmt.bindingsUpsertPlainMany.run(many);
      }
      for (; from < to; from++) {
        putRow(one, 0, appId, rows, from, true);
        this.stmt.bindingsUpsertPlain.run(one.slice(0, PLAIN_PARAMS));
      }
    };
    let plainFrom = 0;
    for (let i = 0; i < count; i++) {
      if (isPlainRow(rows, i)) continue;
      writePlain(plainFrom, i);
      putRow(one, 0, appId, rows, i, false);
      this.stmt.bindingsUpsert.run(one);
      plainFrom = i + 1;
    }
    writePlain(plainFrom, count);
    // Later binds must sort after everything imported.
    for (let i = 0; i < count; i++) if (boundAt[i]! > this.lastBoundAt) this.lastBoundAt = boundAt[i]!;
    return replaced;
  }

  private createApp(app: NewApp): App {
    if (this.stmt.appByAccessId.get(app.accessId)) throw new AppExistsError(app.accessId);
    const { lastInsertRowid } = this.stmt.appInsert.run({
      accessId: app.accessId,
      name: app.name,
      secretKey: app.secretKey,
      maxTokensPerAccount: app.policy.maxTokensPerAccount,
      maxAccountsPerToken: app.policy.maxAccountsPerToken,
      bindingRules: app.policy.bindingRules,
      quarantineDays: app.policy.quarantineDays,
      tokenTtlDays: app.policy.tokenTtlDays,
      expiryWarningDays: app.policy.expiryWarningDays,
      createdAt: Date.now(),
    });
    return rowToApp(this.stmt.appById.get(lastInsertRowid) as AppRow);
  }

  private updateApp(accessId: string, patch: AppPatch): App | undefined {
    const row = this.stmt.appByAccessId.get(accessId) as AppRow | undefined;
    if (!row) return undefined;
    // Events queued for a webhook that is turned off have nowhere to go.
    if (patch.webhook === null) this.stmt.outboxDropPending.run(row.id);
    this.stmt.appUpdate.run(patchedAppColumns(rowToApp(row), patch));
    return rowToApp(this.stmt.appByAccessId.get(accessId) as AppRow);
  }

  private deleteApp(accessId: string): boolean {
    const row = this.stmt.appByAccessId.get(accessId) as AppRow | undefined;
    if (!row) return false;
    for (const sql of SQL.appDataDelete) this.db.prepare(sql).run(row.id);
    this.stmt.appDelete.run(row.id);
    return true;
  }

  private claimWebhookEvents(now: number, leaseMs: number, limit: number): WebhookEvent[] {
    const events = (this.stmt.outboxDue.all(now, limit) as OutboxRow[]).map(rowToWebhookEvent);
    for (const event of events) this.stmt.outboxLease.run(now + leaseMs, event.id);
    return events;
  }

  private completeWebhookEvent(event: WebhookEvent, outcome: DeliveryOutcome): void {
    this.stmt.deliveryInsert.run(deliveryParams(event, outcome));
    this.stmt.outboxComplete.run(outboxCompleteParams(event, outcome));
  }

  private sweep(cutoffs: SweepCutoffs, limit: number): SweepCounts {
    this.stmt.appsHistoryTrimmed.run(cutoffs.historyBefore, cutoffs.historyBefore);
    return {
      history: this.stmt.sweepHistory.run(cutoffs.historyBefore, limit).changes,
      idempotency: this.stmt.sweepIdempotency.run(cutoffs.idempotencyBefore, limit).changes,
      webhooks:
        this.stmt.sweepOutbox.run(cutoffs.webhooksBefore, limit).changes +
        this.stmt.sweepDeliveries.run(cutoffs.webhooksBefore, limit).changes,
    };
  }
}
