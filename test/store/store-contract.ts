/**
 * The BindingStore contract: ONE suite that every backend runs unchanged. A backend's test file
 * calls storeContract() with a factory that opens a fresh, empty store (and can reopen it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { AppExistsError, AppNotFoundError } from '../../src/errors.ts';
import { DEFAULT_POLICY } from '../../src/model/types.ts';
import { bulkContract } from './store-contract-bulk.ts';
import { capsContract } from './store-contract-caps.ts';
import { lifecycleContract } from './store-contract-lifecycle.ts';
import { rewindContract } from './store-contract-rewind.ts';
import {
  acc,
  accountsOf,
  bind,
  cmd,
  newApp,
  outcomesOf,
  SECRET,
  type StoreFactory,
  tokensOf,
} from './store-contract-support.ts';

export type { StoreFactory };

import { operationsContract } from './store-contract-operations.ts';

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`BindingStore contract: ${name}`, () => {
    operationsContract(factory);
    lifecycleContract(factory);
    capsContract(factory);
    bulkContract(factory);
    rewindContract(factory);

    describe('apps', () => {
      it('creates, finds, lists, updates and deletes apps', async (t) => {
        const { store } = await factory.open(t);
        const a = await newApp(store, '1500000002');
        const b = await newApp(store, '1500000001', {
          maxTokensPerAccount: 5,
          maxAccountsPerToken: 1,
          tokenTtlDays: 90,
          expiryWarningDays: 10,
        });
        assert.equal(a.accessId, '1500000002');
        assert.equal(a.secretKey, SECRET);
        assert.deepEqual(a.policy, DEFAULT_POLICY);
        assert.equal(a.previousSecretKey, null);
        assert.deepEqual((await store.findApp('1500000001'))?.policy, {
          ...DEFAULT_POLICY,
          maxTokensPerAccount: 5,
          maxAccountsPerToken: 1,
          tokenTtlDays: 90,
          expiryWarningDays: 10,
        });
        assert.equal(await store.findApp('1599999999'), undefined);
        assert.deepEqual(
          (await store.listApps()).map((x) => x.accessId),
          ['1500000001', '1500000002'],
        );

        const until = Date.now() + 60_000;
        const updated = await store.updateApp(a.accessId, {
          secretKey: 'ffffffffffffffffffffffffffffffff',
          previousSecretKey: SECRET,
          previousSecretExpiresAt: until,
          policy: { maxAccountsPerToken: 3, quarantineDays: 5 },
        });
        assert.equal(updated?.secretKey, 'ffffffffffffffffffffffffffffffff');
        assert.equal(updated?.previousSecretKey, SECRET);
        assert.equal(updated?.previousSecretExpiresAt, until);
        assert.deepEqual(updated?.policy, { ...DEFAULT_POLICY, maxAccountsPerToken: 3, quarantineDays: 5 });
        const ttlOff = await store.updateApp(b.accessId, { policy: { tokenTtlDays: null } });
        assert.equal(ttlOff?.policy.tokenTtlDays, null, 'null turns the TTL off');
        assert.equal(ttlOff?.policy.expiryWarningDays, 10);
        assert.equal(await store.updateApp('1599999999', { name: 'x' }), undefined);

        assert.equal(await store.deleteApp(b.accessId), true);
        assert.equal(await store.deleteApp(b.accessId), false);
        assert.deepEqual(
          (await store.listApps()).map((x) => x.accessId),
          ['1500000002'],
        );
      });

      it('refuses a second app with the same AccessID', async (t) => {
        const { store } = await factory.open(t);
        await newApp(store);
        await assert.rejects(newApp(store), AppExistsError);
        assert.equal((await store.listApps()).length, 1);
      });

      it('deleting an app deletes its bindings and nothing of other apps', async (t) => {
        const { store } = await factory.open(t);
        const a = await newApp(store, '1500000001');
        const b = await newApp(store, '1500000002');
        await outcomesOf(store, a.id, cmd([bind('t1', acc('alice')), bind('t2', acc('alice'))]));
        await outcomesOf(store, b.id, cmd([bind('t1', acc('alice'))]));
        assert.deepEqual(await store.countBindings(a.id), { bindings: 2, tokens: 2, accounts: 1, quarantined: 0 });
        await store.deleteApp(a.accessId);
        assert.deepEqual(await store.countBindings(a.id), { bindings: 0, tokens: 0, accounts: 0, quarantined: 0 });
        assert.deepEqual(await tokensOf(store, b, acc('alice')), ['t1']);
        await assert.rejects(outcomesOf(store, a.id, cmd([bind('t3', acc('alice'))])), AppNotFoundError);
        assert.deepEqual(await store.countBindings(a.id), { bindings: 0, tokens: 0, accounts: 0, quarantined: 0 });
      });
    });

    describe('batches', () => {
      it('op 1 binds, and lists come back oldest first; a rebind moves to the end', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        const outcomes = await outcomesOf(
          store,
          app.id,
          cmd([bind('t1', acc('alice'), acc('bob', 1005)), bind('t2', acc('alice'))]),
        );
        assert.deepEqual(outcomes, [{ code: 0 }, { code: 0 }]);
        assert.deepEqual(await tokensOf(store, app, acc('alice')), ['t1', 't2']);
        assert.deepEqual(await accountsOf(store, app, 't1'), ['alice/0', 'bob/1005']);
        assert.deepEqual(await tokensOf(store, app, acc('bob')), [], 'bob/0 is another account than bob/1005');
        await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'))]));
        assert.deepEqual(await tokensOf(store, app, acc('alice')), ['t2', 't1']);
        assert.deepEqual(await accountsOf(store, app, 't1'), ['bob/1005', 'alice/0']);
      });

      it('answers several keys at once in request order, each list oldest first', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        await outcomesOf(store, app.id, cmd([bind('t2', acc('alice')), bind('t1', acc('bob', 1005), acc('alice'))]));
        const tokens = await store.tokensOfAccounts(app.id, [acc('bob', 1005), acc('nobody'), acc('alice')]);
        assert.deepEqual(
          tokens.map((list) => list.map((x) => x.token)),
          [['t1'], [], ['t2', 't1']],
        );
        const accounts = await store.accountsOfTokens(app.id, ['t1', 'none', 't2']);
        assert.deepEqual(
          accounts.map((list) => list.map((a) => `${a.account}/${a.accountType}`)),
          [['bob/1005', 'alice/0'], [], ['alice/0']],
        );
      });

      it('every batch takes the next revision of its app', async (t) => {
        const { store } = await factory.open(t);
        const a = await newApp(store, '1500000001');
        const b = await newApp(store, '1500000002');
        const r1 = (await writeBatch(store, a.id, cmd([bind('t1', acc('alice'))]))).revision;
        const r2 = (await writeBatch(store, a.id, cmd([{ op: 4, token: 'nothing-here' }]))).revision;
        const rb = (await writeBatch(store, b.id, cmd([bind('t1', acc('alice'))]))).revision;
        assert.equal(r2, r1 + 1, 'a batch whose elements all failed still takes a revision');
        assert.equal(rb, 1, 'revisions count per app');
        const concurrent = await Promise.all(
          Array.from({ length: 30 }, (_, i) => writeBatch(store, a.id, cmd([bind(`c${i}`, acc('bob'))]))),
        );
        assert.deepEqual(
          concurrent.map((r) => r.revision).sort((x, y) => x - y),
          Array.from({ length: 30 }, (_, i) => r2 + 1 + i),
        );
      });

      it('bind times strictly increase within and across batches', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        await outcomesOf(store, app.id, cmd([bind('t1', acc('u1'), acc('u2'), acc('u3'))]));
        await outcomesOf(store, app.id, cmd([bind('t1', acc('u4'))]));
        const [accounts] = await store.accountsOfTokens(app.id, ['t1']);
        const times = (accounts ?? []).map((a) => a.boundAt);
        assert.equal(times.length, 4);
        for (let i = 1; i < times.length; i++) assert.ok(times[i]! > times[i - 1]!, `time ${i} is after time ${i - 1}`);
        assert.ok(
          Math.abs(times[0]! / 1000 - Date.now()) < 60_000,
          'bound_at is close to the wall clock (microseconds)',
        );
      });

      it('op 2 overrides the token accounts with exactly the listed ones', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'), acc('bob'), acc('carol'))]));
        const outcomes = await outcomesOf(
          store,
          app.id,
          cmd([{ op: 2, token: 't1', accounts: [acc('dave'), acc('bob')] }]),
        );
        assert.deepEqual(outcomes, [{ code: 0 }]);
        assert.deepEqual(await accountsOf(store, app, 't1'), ['dave/0', 'bob/0']);
        assert.deepEqual(await tokensOf(store, app, acc('alice')), []);
      });

      it('op 3 unbinds listed accounts; nothing to unbind gives 10110008', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'), acc('bob'))]));
        const outcomes = await outcomesOf(
          store,
          app.id,
          cmd([
            { op: 3, token: 't1', accounts: [acc('alice'), acc('nobody')] },
            { op: 3, token: 't1', accounts: [acc('nobody')] },
            { op: 3, token: 'unknown', accounts: [acc('bob')] },
          ]),
        );
        assert.deepEqual(
          outcomes.map((o) => o.code),
          [0, 10110008, 10110008],
        );
        assert.deepEqual(await accountsOf(store, app, 't1'), ['bob/0']);
      });

      it('op 4 clears a token, op 5 clears an account; nothing to clear gives 10110008', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        await outcomesOf(
          store,
          app.id,
          cmd([bind('t1', acc('alice'), acc('bob')), bind('t2', acc('alice'), acc('carol', 2))]),
        );
        assert.deepEqual(
          (
            await outcomesOf(
              store,
              app.id,
              cmd([
                { op: 4, token: 't1' },
                { op: 4, token: 'nope' },
              ]),
            )
          ).map((o) => o.code),
          [0, 10110008],
        );
        assert.deepEqual(await accountsOf(store, app, 't1'), []);
        assert.deepEqual(await tokensOf(store, app, acc('alice')), ['t2']);
        const op5 = await outcomesOf(
          store,
          app.id,
          cmd([
            { op: 5, account: acc('carol', 2) },
            { op: 5, account: acc('carol') },
          ]),
        );
        assert.deepEqual(
          op5.map((o) => o.code),
          [0, 10110008],
        );
        assert.deepEqual(await accountsOf(store, app, 't2'), ['alice/0']);
      });

      it('elements apply in order inside one batch', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        const outcomes = await outcomesOf(
          store,
          app.id,
          cmd([bind('t1', acc('alice')), { op: 4, token: 't1' }, bind('t1', acc('bob')), bind('t2', acc('bob'))]),
        );
        assert.deepEqual(
          outcomes.map((o) => o.code),
          [0, 0, 0, 0],
        );
        assert.deepEqual(await accountsOf(store, app, 't1'), ['bob/0']);
        assert.deepEqual(await tokensOf(store, app, acc('bob')), ['t1', 't2']);
      });

      it('the platform is recorded on the token and kept when a later bind omits it', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'))], { platform: 'ios' }));
        await outcomesOf(store, app.id, cmd([bind('t1', acc('bob'))]));
        const [accounts] = await store.accountsOfTokens(app.id, ['t1']);
        assert.deepEqual(
          accounts?.map((a) => a.platform),
          ['ios', 'ios'],
        );
        await outcomesOf(store, app.id, cmd([bind('t1', acc('carol'))], { platform: 'android' }));
        const [after] = await store.accountsOfTokens(app.id, ['t1']);
        assert.deepEqual(
          after?.map((a) => a.platform),
          ['android', 'android', 'android'],
        );
        const [tokens] = await store.tokensOfAccounts(app.id, [acc('alice')]);
        assert.deepEqual(
          tokens?.map((x) => x.platform),
          ['android'],
        );
        await outcomesOf(store, app.id, cmd([{ op: 2, token: 't1', accounts: [acc('dave')] }]));
        const [overridden] = await store.accountsOfTokens(app.id, ['t1']);
        assert.deepEqual(
          overridden?.map((a) => [a.account, a.platform]),
          [['dave', 'android']],
          'an override keeps the token platform',
        );
      });
    });
  });
}
