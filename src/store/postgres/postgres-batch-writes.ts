/**
 * The writes of a group that go to PostgreSQL as few statements as possible: the upserts of a
 * net change of bindings, and the collector that sends many writes as one statement.
 */
import type pg from 'pg';
import type { Binding } from '../../model/types.ts';
import { isPlain, storedLastSeen } from '../rows.ts';
import { withArrayLiterals } from './postgres-arrays.ts';
import { SQL } from './postgres-queries.ts';

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
 * Writes sent as ONE statement of data-modifying WITH clauses: a group's net change of bindings
 * with its history (postgres-group-bindings.ts), and its answers with its events. The clauses all
 * see the state before the statement: safe because a net change deletes and upserts distinct
 * keys and the other clauses write other tables.
 */
export class BatchWrites {
  private readonly parts: string[] = [];
  private readonly params: unknown[] = [];

  add(sql: string, params: unknown[]): void {
    const offset = this.params.length;
    this.parts.push(sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`));
    this.params.push(...params);
  }

  /** Sends them, once. */
  async send(client: pg.PoolClient): Promise<void> {
    if (this.parts.length === 0) return;
    const sql =
      this.parts.length === 1
        ? this.parts[0]!
        : `WITH ${this.parts.map((p, i) => `w${i} AS (${p})`).join(',\n')} SELECT 1`;
    await client.query(sql, withArrayLiterals(this.params));
  }
}
