/**
 * One app's bindings as a PostgreSQL group transaction sees them: the bindings of every
 * key its batches name, loaded in ONE statement at the group's start, kept in memory as the batches
 * change them, and the net change of the whole group written in ONE statement at its end. A group
 * of twelve batches then makes two statements where it made twenty-four, and it is the number of
 * statements (each a round trip, a plan, a wake-up of the backend) that a group's time went to.
 *
 * Exact because the group holds every key it loaded (postgres-locks.ts): no other transaction can
 * change a binding of them before this one commits, so what was loaded, with this group's own
 * changes applied, is what the database holds. A read that needs the database itself (a key not
 * loaded, a sweep's due tokens, a seen's update in place) first sends what is pending.
 */
import type pg from 'pg';
import { BindingSet } from '../../model/binding-set.ts';
import type { HistoryRecord } from '../../model/outcomes.ts';
import { type AccountKey, accountKeyString, type Binding, bindingKeyString } from '../../model/types.ts';
import { type BindingRow, rowToBinding } from '../rows.ts';
import { withArrayLiterals } from './postgres-arrays.ts';
import { BatchWrites, upsertStatements } from './postgres-batch-writes.ts';
import { SQL } from './postgres-queries.ts';

export class GroupBindings {
  private kept = new BindingSet();
  /** Keys whose every binding is in `kept`. */
  private readonly tokens = new Set<string>();
  private readonly accounts = new Set<string>();
  /** The net change not yet sent: a binding's key is in one of the two at most. */
  private readonly upserts = new Map<string, Binding>();
  private readonly deletes = new Map<string, Binding>();
  private history: HistoryRecord[] = [];

  constructor(
    private readonly client: pg.PoolClient,
    readonly appId: number,
  ) {}

  /** Loads every binding of these tokens and accounts (the keys must be held), after sending what is pending. */
  async load(tokens: string[], accounts: AccountKey[]): Promise<void> {
    const newTokens = [...new Set(tokens)].filter((t) => !this.tokens.has(t));
    const seen = new Set<string>();
    const newAccounts = accounts.filter((a) => {
      const key = accountKeyString(a);
      if (this.accounts.has(key) || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (newTokens.length + newAccounts.length === 0) return;
    await this.send();
    const { rows } = await this.client.query<BindingRow>(
      SQL.bindingsForBatch,
      withArrayLiterals([
        this.appId,
        newTokens,
        newAccounts.map((a) => a.account),
        newAccounts.map((a) => a.accountType),
      ]),
    );
    // A binding of a token and an account both asked for comes twice; the database now equals
    // what is kept, so one already kept is the same.
    for (const row of rows) {
      const b = rowToBinding(row);
      if (!this.kept.get(b.token, b)) this.kept.add(b);
    }
    for (const t of newTokens) this.tokens.add(t);
    for (const key of seen) this.accounts.add(key);
  }

  /**
   * Every binding of these tokens and accounts, each once, oldest first (an order that does not
   * depend on what was loaded when); they must have been loaded.
   */
  bindingsOf(tokens: string[], accounts: AccountKey[]): Binding[] {
    const found = new Set<Binding>();
    for (const t of tokens) for (const b of this.kept.ofToken(t)) found.add(b);
    for (const a of accounts) for (const b of this.kept.ofAccount(a)) found.add(b);
    return [...found].sort((a, b) => a.boundAt - b.boundAt);
  }

  isLoaded(tokens: string[], accounts: AccountKey[]): boolean {
    return tokens.every((t) => this.tokens.has(t)) && accounts.every((a) => this.accounts.has(accountKeyString(a)));
  }

  /** A batch's net change (keys distinct between the two), kept and made pending. */
  write(upserts: Binding[], deletes: Binding[]): void {
    for (const b of deletes) {
      const key = bindingKeyString(b);
      this.kept.remove(b);
      this.upserts.delete(key);
      this.deletes.set(key, b);
    }
    for (const b of upserts) {
      const key = bindingKeyString(b);
      this.kept.add(b);
      this.deletes.delete(key);
      this.upserts.set(key, b);
    }
  }

  appendHistory(records: HistoryRecord[]): void {
    for (const r of records) this.history.push(r);
  }

  /** Forgets every kept binding (the database changed them in place): later reads load again. */
  forget(): void {
    this.kept = new BindingSet();
    this.tokens.clear();
    this.accounts.clear();
  }

  /** Sends the pending net change and history as one statement. */
  async send(): Promise<void> {
    const writes = new BatchWrites();
    if (this.deletes.size > 0) {
      const deletes = [...this.deletes.values()];
      writes.add(SQL.bindingsDelete, [
        this.appId,
        deletes.map((b) => b.token),
        deletes.map((b) => b.account),
        deletes.map((b) => b.accountType),
      ]);
    }
    for (const [sql, params] of upsertStatements(this.appId, [...this.upserts.values()])) writes.add(sql, params);
    if (this.history.length > 0) {
      const records = this.history;
      const column = <K extends keyof HistoryRecord>(key: K) => records.map((h) => h[key]);
      writes.add(SQL.historyInsert, [
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
        column('created'),
      ]);
    }
    this.deletes.clear();
    this.upserts.clear();
    this.history = [];
    await writes.send(this.client);
  }
}
