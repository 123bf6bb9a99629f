/** POST /v3/device/account/query (SPEC §2.6). */

import type { AccountKey, App } from '../../domain/types.ts';
import { validateQuery } from '../../domain/validate-request.ts';
import { RetCode } from '../../errors.ts';
import type { BindingStore } from '../../store/store.ts';
import type { ReadContext } from '../position.ts';
import { type QueryResponse, status } from './schemas.ts';

/** Echo what an invalid element said, as far as it fits the response shape. */
const echoString = (value: unknown): string => (typeof value === 'string' ? value : '');
const echoAccount = (value: unknown): { account: string; account_type: number } => {
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const type = record.account_type;
  return {
    account: echoString(record.account),
    account_type: Number.isInteger(type) && (type as number) >= 0 ? (type as number) : 0,
  };
};

export async function query(
  store: BindingStore,
  app: App,
  body: Record<string, unknown>,
  maxTokenBytes: number,
  read: ReadContext = {},
): Promise<QueryResponse> {
  const request = validateQuery(body, maxTokenBytes);
  const result: string[] = [];
  if (request.op === 1) {
    const valid: AccountKey[] = [];
    for (const s of request.slots) if (s.ok) valid.push(s.value);
    const found = valid.length > 0 ? await store.tokensOfAccounts(app.id, valid, read.deadline, read.after) : [];
    let next = 0;
    const accountTokens = request.slots.map((slot, i) => {
      if (!slot.ok) {
        result.push(String(slot.failure.code));
        return { ...echoAccount(request.raw[i]), token_list: [] };
      }
      const tokens = found[next++] ?? [];
      result.push(String(tokens.length > 0 ? RetCode.OK : RetCode.NO_BINDING));
      return {
        account: slot.value.account,
        account_type: slot.value.accountType,
        token_list: tokens.map((t) => t.token),
      };
    });
    return { ...status(RetCode.OK, 'ok'), result, account_tokens: accountTokens };
  }
  const valid: string[] = [];
  for (const s of request.slots) if (s.ok) valid.push(s.value);
  const found = valid.length > 0 ? await store.accountsOfTokens(app.id, valid, read.deadline, read.after) : [];
  let next = 0;
  const tokenAccounts = request.slots.map((slot, i) => {
    if (!slot.ok) {
      result.push(String(slot.failure.code));
      return { token: echoString(request.raw[i]), account_list: [] };
    }
    const accounts = found[next++] ?? [];
    result.push(String(accounts.length > 0 ? RetCode.OK : RetCode.NO_BINDING));
    return {
      token: slot.value,
      account_list: accounts.map((a) => ({ account: a.account, account_type: a.accountType })),
    };
  });
  return { ...status(RetCode.OK, 'ok'), result, token_accounts: tokenAccounts };
}
