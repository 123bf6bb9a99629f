/** The BindingStore contract, continued: export and import in bulk, and isolation, concurrency and durability. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { runImport } from '../../src/domain/run-import.ts';
import type { Platform } from '../../src/model/types.ts';
import { asBound } from '../../src/model/types.ts';
import { allBindings } from '../support/helpers.ts';
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

export function bulkContract(factory: StoreFactory): void {
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
    it('an import refuses, line by line, a time more than 5 minutes ahead of the clock, and stores the rest', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      const ahead = new Date(Date.now() + 400 * 86_400_000).toISOString();
      const soon = new Date(Date.now() + 60_000).toISOString();
      const lines = [
        JSON.stringify({ token: 'forever', account: 'alice', last_seen_at: ahead }),
        JSON.stringify({ token: 'later', account: 'alice', bound_at: ahead }),
        JSON.stringify({ token: 'ok', account: 'alice', last_seen_at: soon }),
      ];
      const report = await runImport(
        store,
        app.id,
        (async function* () {
          yield lines;
        })(),
        { maxTokenBytes: 64, storeFailed: (error) => error as Error },
      );
      assert.equal(report.imported, 1);
      assert.deepEqual(
        report.errors.map((e) => e.err_msg.replace(/ \(.*$/, '')),
        ['line 1: last_seen_at: is in the future', 'line 2: bound_at: is in the future'],
      );
      assert.deepEqual(
        (await allBindings(store, app.id)).map((b) => b.token),
        ['ok'],
      );
    });

    it('an import into a tpns app keeps one account per account_type per token: the later line wins, as op 2', async (t) => {
      const { store } = await factory.open(t);
      const tpns = await newApp(store, '1500000001', { bindingRules: 'tpns' });
      const append = await newApp(store, '1500000002');
      const lines = [
        JSON.stringify({ token: 't1', account: 'bob' }),
        JSON.stringify({ token: 't2', account: 'carol' }),
        JSON.stringify({ token: 't2', account: 'dave' }),
        JSON.stringify({ token: 't2', account: 'erin', account_type: 1 }),
        JSON.stringify({ token: 't3', account: 'fred' }),
        JSON.stringify({ token: 't3', account: 'fred' }),
      ];
      const slotsOf = async (appId: number) =>
        (await allBindings(store, appId)).map((b) => `${b.token} ${b.account} ${b.accountType}`).sort();
      const run = (appId: number, slots: boolean) =>
        runImport(
          store,
          appId,
          (async function* () {
            yield lines;
          })(),
          { maxTokenBytes: 64, slots, storeFailed: (error) => error as Error },
        );
      for (const app of [tpns, append]) await writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]));

      const report = await run(tpns.id, true);
      assert.deepEqual(
        { imported: report.imported, failed: report.failed, replaced: report.replaced, superseded: report.superseded },
        { imported: 4, failed: 0, replaced: 1, superseded: 1 },
      );
      assert.deepEqual(await slotsOf(tpns.id), ['t1 bob 0', 't2 dave 0', 't2 erin 1', 't3 fred 0']);
      assert.deepEqual(
        (await store.accountsOfTokens(tpns.id, ['t1']))[0]?.map((a) => a.account),
        ['bob'],
        'the TPNS query shows one account of the type',
      );

      // Under the append rules nothing is replaced.
      const appended = await run(append.id, false);
      assert.deepEqual([appended.replaced, appended.superseded], [0, 0]);
      assert.deepEqual(await slotsOf(append.id), [
        't1 alice 0',
        't1 bob 0',
        't2 carol 0',
        't2 dave 0',
        't2 erin 1',
        't3 fred 0',
      ]);
    });

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
      await outcomesOf(store, app.id, cmd([bind('t1', acc('alice'))], { platform: 'ios' }));
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
}
