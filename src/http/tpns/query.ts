/** POST /v3/device/account/query (SPEC §2.6). */

import { validateQuery } from '../../domain/validate-request.ts';
import { RetCode } from '../../errors.ts';
import type { BindingStore } from '../../model/store.ts';
import type { AccountKey, App } from '../../model/types.ts';
import type { ReadContext } from '../position.ts';
import { type QueryResponse, status } from './schemas.ts';

const OK = String(RetCode.OK);
const NO_BINDING = String(RetCode.NO_BINDING);

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
    const accountTokens: NonNullable<QueryResponse['account_tokens']> = [];
    let next = 0;
    for (let i = 0; i < request.slots.length; i++) {
      const slot = request.slots[i]!;
      if (!slot.ok) {
        result.push(String(slot.failure.code));
        accountTokens.push({ ...echoAccount(request.raw[i]), token_list: [] });
        continue;
      }
      const tokens = found[next++] ?? [];
      const tokenList: string[] = [];
      for (const t of tokens) tokenList.push(t.token);
      result.push(tokens.length > 0 ? OK : NO_BINDING);
      accountTokens.push({ account: slot.value.account, account_type: slot.value.accountType, token_list: tokenList });
    }
    return { ...status(RetCode.OK, 'ok'), result, account_tokens: accountTokens };
  }
  const valid: string[] = [];
  for (const s of request.slots) if (s.ok) valid.push(s.value);
  const found = valid.length > 0 ? await store.accountsOfTokens(app.id, valid, read.deadline, read.after) : [];
  const tokenAccounts: NonNullable<QueryResponse['token_accounts']> = [];
  let next = 0;
  for (let i = 0; i < request.slots.length; i++) {
    const slot = request.slots[i]!;
    if (!slot.ok) {
      result.push(String(slot.failure.code));
      tokenAccounts.push({ token: echoString(request.raw[i]), account_list: [] });
      continue;
    }
    const accounts = found[next++] ?? [];
    const accountList: { account: string; account_type: number }[] = [];
    for (const a of accounts) accountList.push({ account: a.account, account_type: a.accountType });
    result.push(accounts.length > 0 ? OK : NO_BINDING);
    tokenAccounts.push({ token: slot.value, account_list: accountList });
  }
  return { ...status(RetCode.OK, 'ok'), result, token_accounts: tokenAccounts };
}
