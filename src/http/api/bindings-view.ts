/**
 * Reading bindings and history for people: the shared body of /api/v1 (an app's own credentials)
 * and of the admin console's look-ups (the admin token, any app).
 */

import { checkAccountKey, checkToken, type Failure, isFailure } from '../../domain/validate-fields.ts';
import { ApiError, apiError, RetCode } from '../../errors.ts';
import type { BindingStore, HistoryFilter } from '../../model/store.ts';
import { type AccountKey, type Binding, bindingState, boundAtIso } from '../../model/types.ts';
import type { ReadContext } from '../position.ts';
import { status } from '../tpns/schemas.ts';
import type { HistoryQuery } from './schemas.ts';

export function valid<T>(value: T | Failure): T {
  if (isFailure(value)) throw new ApiError(value.code, 400, value.message);
  return value;
}

const ok = () => status(RetCode.OK, 'ok');

/** Which bindings a read shows: the active ones, or (`?include=quarantined`) every one. */
export type Shown = 'active' | 'all';

const iso = (ms: number) => new Date(ms).toISOString();

/** A binding's times and state, as every read shows them. */
function lifecycleView(b: Binding) {
  return {
    platform: b.platform,
    bound_at: boundAtIso(b.boundAt),
    last_seen_at: iso(b.lastSeenAt),
    state: bindingState(b),
    ...(b.quarantinedAt === null
      ? {}
      : { quarantined_at: iso(b.quarantinedAt), quarantine_reason: b.quarantineReason ?? '' }),
  };
}

const shownOf = (bindings: Binding[], shown: Shown) =>
  shown === 'all' ? bindings : bindings.filter((b) => b.quarantinedAt === null);

export async function accountTokensView(
  store: BindingStore,
  appId: number,
  account: string,
  accountType: number | undefined,
  shown: Shown,
  read: ReadContext = {},
) {
  const key = valid(checkAccountKey({ account, account_type: accountType }, 'account'));
  const bindings = await store.bindingsOf(appId, { account: key }, read.deadline, read.after);
  return {
    ...ok(),
    account: key.account,
    account_type: key.accountType,
    tokens: shownOf(bindings, shown).map((b) => ({ token: b.token, ...lifecycleView(b) })),
  };
}

export async function tokenAccountsView(
  store: BindingStore,
  appId: number,
  token: string,
  maxTokenBytes: number,
  shown: Shown,
  read: ReadContext = {},
) {
  const checked = valid(checkToken(token, 'token', maxTokenBytes));
  const bindings = await store.bindingsOf(appId, { token: checked }, read.deadline, read.after);
  return {
    ...ok(),
    token: checked,
    accounts: shownOf(bindings, shown).map((b) => ({
      account: b.account,
      account_type: b.accountType,
      ...lifecycleView(b),
    })),
  };
}

const encodeCursor = (id: number) => Buffer.from(String(id)).toString('base64url');
function decodeCursor(cursor: string): number {
  const id = Number(Buffer.from(cursor, 'base64url').toString());
  if (!Number.isSafeInteger(id) || id <= 0) throw apiError.invalid('cursor: not a next_cursor from a previous page');
  return id;
}

export async function historyView(
  store: BindingStore,
  appId: number,
  query: HistoryQuery,
  maxTokenBytes: number,
  read: ReadContext = {},
) {
  const { account, account_type: accountType, token, limit = 50, cursor } = query;
  const filter: HistoryFilter = {};
  if (token !== undefined) filter.token = valid(checkToken(token, 'token', maxTokenBytes));
  if (account !== undefined)
    filter.account = valid<AccountKey>(checkAccountKey({ account, account_type: accountType }, 'account'));
  else if (accountType !== undefined) throw apiError.invalid('account_type: only with account');
  const entries = await store.history(
    appId,
    filter,
    limit + 1,
    cursor === undefined ? undefined : decodeCursor(cursor),
    read.deadline,
    read.after,
  );
  const page = entries.slice(0, limit);
  return {
    ...ok(),
    entries: page.map((e) => ({
      id: e.id,
      at: new Date(e.at).toISOString(),
      operator_type: e.operatorType,
      cause: e.cause,
      token: e.token,
      account: e.account,
      account_type: e.accountType,
      platform: e.platform,
      op_type: e.opType,
      op_id: e.opId,
      request_id: e.requestId,
    })),
    next_cursor: entries.length > limit && page.length > 0 ? encodeCursor(page.at(-1)!.id) : null,
  };
}
