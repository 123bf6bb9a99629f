/** The BindingStore contract, continued: caps and eviction, and the binding rules. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY } from '../../src/model/types.ts';
import {
  acc,
  accountsOf,
  bind,
  cmd,
  newApp,
  outcomesOf,
  type StoreFactory,
  tokensOf,
} from './store-contract-support.ts';

export function capsContract(factory: StoreFactory): void {
  describe('caps and eviction', () => {
    it('max_accounts_per_token evicts the least recently bound other account', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 100, maxAccountsPerToken: 2 });
      await outcomesOf(store, app.id, cmd([bind('t1', acc('a1'), acc('a2'))]));
      await outcomesOf(store, app.id, cmd([bind('t1', acc('a1'))])); // a2 is now the oldest
      await outcomesOf(store, app.id, cmd([bind('t1', acc('a3'))]));
      assert.deepEqual(await accountsOf(store, app, 't1'), ['a1/0', 'a3/0']);
      assert.deepEqual(await tokensOf(store, app, acc('a2')), []);
    });

    it('max_accounts_per_token = 1: logging in moves the device', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 100, maxAccountsPerToken: 1 });
      await outcomesOf(store, app.id, cmd([bind('phone', acc('alice'))]));
      await outcomesOf(store, app.id, cmd([bind('phone', acc('bob'))]));
      assert.deepEqual(await accountsOf(store, app, 'phone'), ['bob/0']);
      assert.deepEqual(await tokensOf(store, app, acc('alice')), []);
    });

    it('max_tokens_per_account evicts the account oldest token', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 3, maxAccountsPerToken: 10 });
      await outcomesOf(
        store,
        app.id,
        cmd([bind('t1', acc('alice')), bind('t2', acc('alice')), bind('t3', acc('alice'))]),
      );
      await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'))])); // t2 is now the oldest
      await outcomesOf(store, app.id, cmd([bind('t4', acc('alice')), bind('t5', acc('alice'))]));
      assert.deepEqual(await tokensOf(store, app, acc('alice')), ['t1', 't4', 't5']);
      assert.deepEqual(await accountsOf(store, app, 't2'), []);
    });

    it('both caps at once evict on both sides in the same batch', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 1, maxAccountsPerToken: 1 });
      await outcomesOf(store, app.id, cmd([bind('t1', acc('alice')), bind('t2', acc('bob'))]));
      await outcomesOf(store, app.id, cmd([bind('t1', acc('bob'))]));
      assert.deepEqual(await accountsOf(store, app, 't1'), ['bob/0']);
      assert.deepEqual(await accountsOf(store, app, 't2'), []);
      assert.deepEqual(await tokensOf(store, app, acc('alice')), []);
      assert.deepEqual(await store.countBindings(app.id), { bindings: 1, tokens: 1, accounts: 1, quarantined: 0 });
    });

    it('a batch of many keys sees every binding it touches (SQLite loads them 32 keys a statement)', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 1, maxAccountsPerToken: 100 });
      const accounts = Array.from({ length: 70 }, (_, i) => acc(`a${String(i).padStart(2, '0')}`));
      // 70 accounts on one token, then on another: each account keeps one token, so every one moves.
      await outcomesOf(store, app.id, cmd([bind('old', ...accounts)]));
      await outcomesOf(store, app.id, cmd([bind('new', ...accounts)]));
      assert.deepEqual(await accountsOf(store, app, 'old'), []);
      assert.equal((await accountsOf(store, app, 'new')).length, 70);
      assert.deepEqual(await tokensOf(store, app, accounts[69]!), ['new']);
    });

    it('an element listing more accounts than the cap fails with 1008007 and the others apply', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 100, maxAccountsPerToken: 2 });
      const outcomes = await outcomesOf(
        store,
        app.id,
        cmd([bind('t1', acc('a1'), acc('a2'), acc('a3')), bind('t2', acc('a1'), acc('a1'), acc('a2'))]),
      );
      assert.equal(outcomes[0]?.code, 1008007);
      assert.match(
        outcomes[0]?.message ?? '',
        /3 distinct accounts, more than this app's max_accounts_per_token \(2\)/,
      );
      assert.deepEqual(outcomes[1], { code: 0 }, 'duplicates count once');
      assert.deepEqual(await accountsOf(store, app, 't1'), []);
      assert.deepEqual(await accountsOf(store, app, 't2'), ['a1/0', 'a2/0']);
    });

    it('a policy change applies to the next batch', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await outcomesOf(store, app.id, cmd([bind('t1', acc('a1'), acc('a2'), acc('a3'))]));
      await store.updateApp(app.accessId, { policy: { maxAccountsPerToken: 1 } });
      await outcomesOf(store, app.id, cmd([bind('t1', acc('a4'))]));
      assert.deepEqual(await accountsOf(store, app, 't1'), ['a4/0']);
    });
  });

  describe('binding rules', () => {
    it('tpns: op 1 at login moves the device to the new user, recorded as replaced; the setting is kept', async (t) => {
      const { store, reopen } = await factory.open(t);
      const app = await newApp(store, '1500000001', { bindingRules: 'tpns' });
      assert.equal(app.policy.bindingRules, 'tpns');
      await outcomesOf(store, app.id, cmd([bind('phone', acc('alice'), acc('alice-mail', 2))]));
      await outcomesOf(store, app.id, cmd([bind('phone', acc('bob'))]));
      assert.deepEqual(await accountsOf(store, app, 'phone'), ['bob/0'], "alice no longer gets bob's device's pushes");
      const causes = (await store.history(app.id, { token: 'phone' }, 10)).map((h) => `${h.account} ${h.cause}`);
      assert.deepEqual(causes, ['bob bind', 'alice-mail override', 'alice replaced', 'alice-mail bind', 'alice bind']);
      const other = await newApp(store, '1500000002');
      await outcomesOf(store, other.id, cmd([bind('phone', acc('alice'))]));
      await outcomesOf(store, other.id, cmd([bind('phone', acc('bob'))]));
      assert.deepEqual(await accountsOf(store, other, 'phone'), ['alice/0', 'bob/0'], 'an append app appends');
      const updated = await store.updateApp(other.accessId, { policy: { bindingRules: 'tpns' } });
      assert.deepEqual(updated?.policy, { ...DEFAULT_POLICY, bindingRules: 'tpns' });
      const again = await reopen();
      assert.equal((await again.findApp('1500000001'))?.policy.bindingRules, 'tpns');
    });
  });
}
