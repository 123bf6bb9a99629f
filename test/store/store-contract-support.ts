/** What the BindingStore contract's files share: the store factory and small helpers to write and read bindings. */
import type { TestContext } from 'node:test';
import { writeBatch } from '../../src/domain/run-batch.ts';
import type { BindingStore } from '../../src/model/store.ts';
import type { AccountKey, App, AppPolicy, BatchCommand, BatchElement } from '../../src/model/types.ts';
import { DEFAULT_POLICY } from '../../src/model/types.ts';

export interface StoreFactory {
  /**
   * A fresh empty store for this test, closed by the factory after the test. `reopen` closes it and opens the same data
   * again.
   */
  open(t: TestContext): Promise<{ store: BindingStore; reopen: () => Promise<BindingStore> }>;
}

export const SECRET = '0123456789abcdef0123456789abcdef';
export const acc = (account: string, accountType = 0): AccountKey => ({ account, accountType });
export const cmd = (elements: BatchElement[], extra: Partial<BatchCommand> = {}): BatchCommand => ({
  elements,
  platform: null,
  opType: null,
  opId: null,
  ...extra,
});
export const bind = (token: string, ...accounts: AccountKey[]): BatchElement => ({ op: 1, token, accounts });

/** writeBatch, keeping only the per-element outcomes. */
export async function outcomesOf(store: BindingStore, appId: number, command: BatchCommand) {
  return (await writeBatch(store, appId, command)).outcomes;
}

export async function newApp(
  store: BindingStore,
  accessId = '1500000001',
  policy: Partial<AppPolicy> = {},
): Promise<App> {
  return store.createApp({
    accessId,
    name: `app ${accessId}`,
    secretKey: SECRET,
    policy: { ...DEFAULT_POLICY, ...policy },
  });
}

export async function tokensOf(store: BindingStore, app: App, account: AccountKey): Promise<string[]> {
  const [tokens] = await store.tokensOfAccounts(app.id, [account]);
  return (tokens ?? []).map((t) => t.token);
}

export async function accountsOf(store: BindingStore, app: App, token: string): Promise<string[]> {
  const [accounts] = await store.accountsOfTokens(app.id, [token]);
  return (accounts ?? []).map((a) => `${a.account}/${a.accountType}`);
}
