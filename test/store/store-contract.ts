/**
 * The BindingStore contract: ONE suite that every backend runs unchanged. A backend's test file
 * calls storeContract() with a factory that opens a fresh, empty store (and can reopen it).
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { AppExistsError, AppNotFoundError } from '../../src/errors.ts';
import type { BindingStore } from '../../src/model/store.ts';
import type { AccountKey, App, AppPolicy, BatchCommand, BatchElement, Platform } from '../../src/model/types.ts';
import { asBound, DEFAULT_POLICY } from '../../src/model/types.ts';
import { allBindings } from '../support/helpers.ts';
import { lifecycleContract } from './store-contract-lifecycle.ts';
import { operationsContract } from './store-contract-operations.ts';

export interface StoreFactory {
  /**
   * A fresh empty store for this test, closed by the factory after the test. `reopen` closes it and opens the same data
   * again.
   */
  open(t: TestContext): Promise<{ store: BindingStore; reopen: () => Promise<BindingStore> }>;
}

const SECRET = '0123456789abcdef0123456789abcdef';
const acc = (account: string, accountType = 0): AccountKey => ({ account, accountType });
const cmd = (elements: BatchElement[], platform: Platform | null = null): BatchCommand => ({
  elements,
  platform,
  opType: null,
  opId: null,
});
const bind = (token: string, ...accounts: AccountKey[]): BatchElement => ({ op: 1, token, accounts });

/** writeBatch, keeping only the per-element outcomes. */
async function outcomesOf(store: BindingStore, appId: number, command: BatchCommand) {
  return (await writeBatch(store, appId, command)).outcomes;
}

async function newApp(store: BindingStore, accessId = '1500000001', policy: Partial<AppPolicy> = {}): Promise<App> {
  return store.createApp({
    accessId,
    name: `app ${accessId}`,
    secretKey: SECRET,
    policy: { ...DEFAULT_POLICY, ...policy },
  });
}

async function tokensOf(store: BindingStore, app: App, account: AccountKey): Promise<string[]> {
  const [tokens] = await store.tokensOfAccounts(app.id, [account]);
  return (tokens ?? []).map((t) => t.token);
}

async function accountsOf(store: BindingStore, app: App, token: string): Promise<string[]> {
  const [accounts] = await store.accountsOfTokens(app.id, [token]);
  return (accounts ?? []).map((a) => `${a.account}/${a.accountType}`);
}

export function storeContract(name: string, factory: StoreFactory): void {
  describe(`BindingStore contract: ${name}`, () => {
    operationsContract(factory);
    lifecycleContract(factory);

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
        await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'))], 'ios'));
        await outcomesOf(store, app.id, cmd([bind('t1', acc('bob'))]));
        const [accounts] = await store.accountsOfTokens(app.id, ['t1']);
        assert.deepEqual(
          accounts?.map((a) => a.platform),
          ['ios', 'ios'],
        );
        await outcomesOf(store, app.id, cmd([bind('t1', acc('carol'))], 'android'));
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
        assert.deepEqual(
          await accountsOf(store, app, 'phone'),
          ['bob/0'],
          "alice no longer gets bob's device's pushes",
        );
        const causes = (await store.history(app.id, { token: 'phone' }, 10)).map((h) => `${h.account} ${h.cause}`);
        assert.deepEqual(causes, [
          'bob bind',
          'alice-mail override',
          'alice replaced',
          'alice-mail bind',
          'alice bind',
        ]);
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

    describe('bulk', () => {
      it('imports bindings as given and lists them in bytewise key order, page by page', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        const future = Date.now() * 1000 + 3_600_000_000;
        const rows = [
          { token: '😀', account: 'alice', accountType: 0, platform: 'ios' as const, boundAt: 1_000_000 },
          { token: 'a', account: 'bob', accountType: 2, platform: null, boundAt: future },
          { token: 'B', account: 'alice', accountType: 0, platform: 'android' as const, boundAt: 2_000_000 },
          { token: 'é', account: 'alice', accountType: 0, platform: null, boundAt: 3_000_000 },
          { token: 'a', account: 'alice', accountType: 0, platform: null, boundAt: 4_000_000 },
          { token: 'a', account: 'alice', accountType: 1, platform: null, boundAt: 5_000_000 },
        ].map(asBound);
        await store.importBindings(app.id, rows);
        await store.importBindings(app.id, rows); // a re-run changes nothing
        const seen = [];
        for await (const page of store.exportBindings(app.id, 2)) {
          assert.ok(page.length <= 2 && page.length > 0);
          seen.push(...page);
        }
        assert.deepEqual(
          seen.map((b) => `${b.token}|${b.account}|${b.accountType}`),
          ['B|alice|0', 'a|alice|0', 'a|alice|1', 'a|bob|2', 'é|alice|0', '😀|alice|0'],
        );
        assert.deepEqual(
          seen.find((b) => b.token === '😀'),
          rows[0],
        );
        assert.deepEqual(await store.countBindings(app.id), { bindings: 6, tokens: 4, accounts: 3, quarantined: 0 });
        await writeBatch(store, app.id, cmd([bind('new', acc('bob', 2))]));
        assert.deepEqual(
          await tokensOf(store, app, acc('bob', 2)),
          ['a', 'new'],
          'a later bind is newer than an imported future time',
        );
      });
      it('an export is one snapshot: what is written after its first page is not in it, and returning it lets writes go on', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        // u0..u9 each bound to one token t0..t9.
        await outcomesOf(store, app.id, cmd(Array.from({ length: 10 }, (_, i) => bind(`t${i}`, acc(`u${i}`)))));
        const before = (await allBindings(store, app.id)).map((b) => `${b.token}|${b.account}`);
        const pages = store.exportBindings(app.id, 2);
        const seen = [...((await pages.next()).value ?? [])];
        assert.deepEqual(
          seen.map((b) => b.token),
          ['t0', 't1'],
        );
        // u7 moves from t7 (after the cursor) to t00 (before it); u1 moves the other way; t5 goes; t99 comes.
        await outcomesOf(store, app.id, cmd([{ op: 3, token: 't7', accounts: [acc('u7')] }, bind('t00', acc('u7'))]));
        await outcomesOf(store, app.id, cmd([{ op: 3, token: 't1', accounts: [acc('u1')] }, bind('t8', acc('u1'))]));
        await outcomesOf(store, app.id, cmd([{ op: 4, token: 't5' }, bind('t99', acc('u99'))]));
        for await (const page of pages) seen.push(...page);
        assert.deepEqual(
          seen.map((b) => `${b.token}|${b.account}`),
          before,
          'the export shows the bindings as they were at its first page',
        );
        const now = (await allBindings(store, app.id)).map((b) => `${b.token}|${b.account}`);
        assert.deepEqual(now, [
          't0|u0',
          't00|u7',
          't2|u2',
          't3|u3',
          't4|u4',
          't6|u6',
          't8|u1',
          't8|u8',
          't9|u9',
          't99|u99',
        ]);

        // An export given up after one page releases its snapshot.
        const abandoned = store.exportBindings(app.id, 1);
        await abandoned.next();
        await abandoned.return(undefined);
        await outcomesOf(store, app.id, cmd([bind('t10', acc('u10'))]));
        assert.equal((await allBindings(store, app.id)).length, 11);
      });

      it('imports many rows in order: a key given twice keeps its later row', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        const rows = Array.from({ length: 123 }, (_, i) =>
          asBound({
            token: `t${String(i).padStart(3, '0')}`,
            account: `u${i % 7}`,
            accountType: i % 2,
            platform: (i % 3 === 0 ? 'ios' : null) as Platform | null,
            boundAt: 1_000_000 + i,
          }),
        );
        rows.push(
          asBound({ ...rows[10]!, platform: 'android', boundAt: 9_000_000 }),
          asBound({ ...rows[120]!, platform: 'android', boundAt: 9_000_001 }),
        );
        await store.importBindings(app.id, rows);
        const seen = await allBindings(store, app.id);
        assert.equal(seen.length, 123);
        assert.deepEqual(seen[10], rows[123]);
        assert.deepEqual(seen[120], rows[124]);
        assert.deepEqual(seen[50], rows[50]);
        assert.deepEqual(seen[122], rows[122]);
      });
    });

    describe('isolation, concurrency and durability', () => {
      it('apps never see or change each other bindings', async (t) => {
        const { store } = await factory.open(t);
        const a = await newApp(store, '1500000001');
        const b = await newApp(store, '1500000002');
        await outcomesOf(store, a.id, cmd([bind('shared', acc('alice'))]));
        await outcomesOf(store, b.id, cmd([bind('shared', acc('bob'))]));
        assert.deepEqual(await accountsOf(store, a, 'shared'), ['alice/0']);
        assert.deepEqual(await accountsOf(store, b, 'shared'), ['bob/0']);
        assert.deepEqual(
          (await outcomesOf(store, b.id, cmd([{ op: 5, account: acc('alice') }]))).map((o) => o.code),
          [10110008],
        );
        await outcomesOf(store, b.id, cmd([{ op: 4, token: 'shared' }]));
        assert.deepEqual(await accountsOf(store, a, 'shared'), ['alice/0']);
      });

      it('concurrent batches all apply, none lost, caps hold', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store, '1500000001', { maxTokensPerAccount: 50, maxAccountsPerToken: 10 });
        const writes = Array.from({ length: 200 }, (_, i) =>
          outcomesOf(store, app.id, cmd([bind(`t${i}`, acc('crowd')), bind(`t${i}`, acc(`u${i}`))])),
        );
        const outcomes = await Promise.all(writes);
        assert.ok(outcomes.every((o) => o.every((e) => e.code === 0)));
        const tokens = await tokensOf(store, app, acc('crowd'));
        assert.equal(tokens.length, 50, 'the cap holds under concurrency');
        const [all] = await store.tokensOfAccounts(app.id, [acc('crowd')]);
        const times = all!.map((x) => x.boundAt);
        assert.deepEqual(
          [...times].sort((x, y) => x - y),
          times,
        );
        for (let i = 0; i < 200; i++) assert.deepEqual(await tokensOf(store, app, acc(`u${i}`)), [`t${i}`]);
      });

      it('a read over many keys sees one committed state, never half of a concurrent batch', async (t) => {
        const { store } = await factory.open(t);
        const app = await newApp(store);
        const tokens = Array.from({ length: 20 }, (_, i) => `t${i}`);
        let torn = 0;
        // Reads made while the write was still unanswered: without them the test would prove nothing.
        let readsDuringWrite = 0;
        for (let round = 0; round < 60; round++) {
          const write = writeBatch(store, app.id, cmd(tokens.map((token) => bind(token, acc(`round-${round}`)))));
          for (let done = false; !done; ) {
            done = await Promise.race([
              write.then(() => true),
              new Promise<boolean>((resolve) => setImmediate(() => resolve(false))),
            ]);
            if (!done) readsDuringWrite++;
            const has = (await store.accountsOfTokens(app.id, tokens)).map((list) =>
              list.some((a) => a.account === `round-${round}`),
            );
            if (has.some(Boolean) && !has.every(Boolean)) torn++;
          }
        }
        assert.equal(torn, 0, 'reads that saw part of a batch');
        assert.ok(readsDuringWrite >= 60, `reads made while a write was in flight: ${readsDuringWrite}`);
      });

      it('an answered change survives closing and reopening the store', async (t) => {
        const { store, reopen } = await factory.open(t);
        const app = await newApp(store);
        await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'))], 'ios'));
        const again = await reopen();
        const [tokens] = await again.tokensOfAccounts(app.id, [acc('alice')]);
        assert.deepEqual(
          tokens?.map((x) => [x.token, x.platform]),
          [['t1', 'ios']],
        );
        assert.equal((await again.findApp(app.accessId))?.secretKey, SECRET);
      });

      it('ping answers while open; close is idempotent and later writes are refused', async (t) => {
        const { store } = await factory.open(t);
        await store.ping();
        const app = await newApp(store);
        await store.close();
        await store.close();
        await assert.rejects(outcomesOf(store, app.id, cmd([bind('t1', acc('alice'))])));
      });
    });
  });
}
