/**
 * The reads of an app's bindings and history: which statement, and the answer built from its rows.
 * Where each read is served (the primary or a replica that has caught up) is the `read` it is given
 * (postgres-read-routing.ts).
 */
import type pg from 'pg';
import type { AccountOfToken, BindingsOf, HistoryEntry, HistoryFilter, TokenOfAccount } from '../../model/store.ts';
import type { AccountKey, Binding } from '../../model/types.ts';
import { walkHistorySlices } from '../history-slices.ts';
import { type BindingRow, type HistoryRow, rowToBinding, rowToHistory } from '../rows.ts';
import type { DedicatedClient } from './postgres-connection.ts';
import { SQL } from './postgres-queries.ts';

/** A read of the app's data, wherever the routing sends it. */
export type Read = <R extends pg.QueryResultRow>(
  appId: number,
  after: string | undefined,
  doing: string,
  sql: string,
  params: unknown[],
  deadline?: number,
) => Promise<pg.QueryResult<R>>;

export async function history(
  read: Read,
  appId: number,
  filter: HistoryFilter,
  limit: number,
  beforeId = Number.MAX_SAFE_INTEGER,
  deadline?: number,
  after?: string,
): Promise<HistoryEntry[]> {
  const rows = async <R extends pg.QueryResultRow>(statement: string, params: unknown[]) =>
    (await read<R>(appId, after, 'read history', statement, params, deadline)).rows;
  const { token, account } = filter;
  if (token === undefined && account === undefined)
    return (await rows<HistoryRow>(SQL.historyAll, [appId, beforeId, limit])).map(rowToHistory);
  const [sql, key] =
    token !== undefined && account !== undefined
      ? [SQL.historyOfBinding, [token, account.account, account.accountType]]
      : token !== undefined
        ? [SQL.historyOfToken, [token]]
        : [SQL.historyOfAccount, [account!.account, account!.accountType]];
  const [ids] = await rows<{ first: number | null; last: number | null }>(SQL.historyIds, [appId]);
  const found = await walkHistorySlices(ids!, beforeId, limit, (top, bottom, want) =>
    rows<HistoryRow>(sql, [top, bottom, appId, ...key, beforeId, want]),
  );
  return found.map(rowToHistory);
}

export async function tokensOfAccounts(
  read: Read,
  appId: number,
  accounts: AccountKey[],
  deadline?: number,
  after?: string,
): Promise<TokenOfAccount[][]> {
  const [sql, params] =
    accounts.length === 1
      ? [SQL.tokensOfAccount, [appId, accounts[0]!.account, accounts[0]!.accountType]]
      : [SQL.tokensOfAccounts, [appId, accounts.map((a) => a.account), accounts.map((a) => a.accountType)]];
  const { rows } = await read<{
    /** Absent for one account. */
    ord?: number;
    token: string;
    platform: TokenOfAccount['platform'];
    bound_at: number;
  }>(appId, after, 'query tokens', sql, params, deadline);
  const lists: TokenOfAccount[][] = accounts.map(() => []);
  for (const row of rows)
    lists[(row.ord ?? 1) - 1]?.push({ token: row.token, platform: row.platform, boundAt: row.bound_at });
  return lists;
}

export async function accountsOfTokens(
  read: Read,
  appId: number,
  tokens: string[],
  deadline?: number,
  after?: string,
): Promise<AccountOfToken[][]> {
  const [sql, params] =
    tokens.length === 1 ? [SQL.accountsOfToken, [appId, tokens[0]]] : [SQL.accountsOfTokens, [appId, tokens]];
  const { rows } = await read<{
    /** Absent for one token. */
    ord?: number;
    account: string;
    account_type: number;
    platform: AccountOfToken['platform'];
    bound_at: number;
  }>(appId, after, 'query accounts', sql, params, deadline);
  const lists: AccountOfToken[][] = tokens.map(() => []);
  for (const row of rows) {
    lists[(row.ord ?? 1) - 1]?.push({
      account: row.account,
      accountType: row.account_type,
      platform: row.platform,
      boundAt: row.bound_at,
    });
  }
  return lists;
}

export async function bindingsOf(
  read: Read,
  appId: number,
  of: BindingsOf,
  deadline?: number,
  after?: string,
): Promise<Binding[]> {
  const { rows } =
    'token' in of
      ? await read<BindingRow>(appId, after, 'read bindings', SQL.bindingsOfToken, [appId, of.token], deadline)
      : await read<BindingRow>(
          appId,
          after,
          'read bindings',
          SQL.bindingsOfAccount,
          [appId, of.account.account, of.account.accountType],
          deadline,
        );
  return rows.map(rowToBinding);
}

/** Where a keyset page of an export starts: strictly after this key. */
type BindingKey = AccountKey & { token: string };

/**
 * Pages in key order inside one REPEATABLE READ READ ONLY transaction, on a connection of its own
 * (the pool stays for requests), which it closes: every page reads the snapshot taken at the first.
 * The cost: one connection per export, and while it runs, VACUUM keeps the row versions the
 * snapshot can see.
 */
export async function* exportBindings(
  client: DedicatedClient,
  appId: number,
  pageSize: number,
  fromToken: string,
): AsyncGenerator<Binding[], void, undefined> {
  try {
    await client.query(SQL.exportBegin);
    await client.query(SQL.exportInKeyOrder);
    // Before every binding of fromToken: an account is never empty and an account_type never negative.
    for (let after: BindingKey = { token: fromToken, account: '', accountType: -1 }; ; ) {
      const rows = await client.query<BindingRow>(SQL.bindingsExport, [
        appId,
        after.token,
        after.account,
        after.accountType,
        pageSize,
      ]);
      if (rows.length === 0) return;
      const page = rows.map(rowToBinding);
      yield page;
      after = page.at(-1)!;
    }
  } finally {
    await client.close();
  }
}
