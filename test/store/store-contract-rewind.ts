/**
 * Rewinding one app (issue 34, item 3), on every store: a model-based test (random operations,
 * rewinds to random earlier times, each compared with the state the app was in then), the
 * refusals when the history cannot answer, and a rewind while another app writes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { RewindRefusedError } from '../../src/model/errors.ts';
import type { BindingStore } from '../../src/model/store.ts';
import { type AccountKey, asBound, type BatchElement, DAY_MS, type RewindCommand } from '../../src/model/types.ts';
import { allBindings } from '../support/helpers.ts';
import { size } from '../support/soak.ts';
import { acc, cmd, newApp, type StoreFactory } from './store-contract-support.ts';

const TOKENS = ['tA', 'tB', 'tC', 'tD'];
const ACCOUNTS: AccountKey[] = [acc('ann'), acc('bob'), acc('ann', 3)];
const token = fc.constantFrom(...TOKENS);
const account = fc.constantFrom(...ACCOUNTS);
const element: fc.Arbitrary<BatchElement> = fc.oneof(
  fc.record({
    op: fc.constantFrom(1 as const, 2 as const, 3 as const),
    token,
    accounts: fc.array(account, { minLength: 1, maxLength: 2 }),
  }),
  fc.record({ op: fc.constant(4 as const), token }),
  fc.record({ op: fc.constant(5 as const), account }),
);
/**
 * A step: a batch of 1-3 elements; the token lifecycle (a provider reports tokens dead, a restore,
 * the sweeper 40 days on, which purges what was quarantined); or a rewind to the time after an
 * earlier step (its index, modulo).
 */
const step = fc.oneof(
  { weight: 6, arbitrary: fc.array(element, { minLength: 1, maxLength: 3 }).map((elements) => ({ elements })) },
  { weight: 1, arbitrary: fc.record({ dead: fc.uniqueArray(token, { minLength: 1, maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ restore: fc.uniqueArray(token, { minLength: 1, maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.constant({ purge: true as const }) },
  { weight: 2, arbitrary: fc.record({ rewindTo: fc.nat(), dryRun: fc.boolean() }) },
);
/** Per run: either binding rules (under `tpns` a bind replaces the token's account of that type). */
const rules = fc.constantFrom('append' as const, 'tpns' as const);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rewind = (to: number, dryRun = false): RewindCommand => ({ kind: 'rewind', to, dryRun });

/** The app's bindings as sorted keys: which exist is what a rewind restores. */
async function membership(store: BindingStore, appId: number): Promise<string[]> {
  return (await allBindings(store, appId)).map((b) => `${b.token}|${b.account}|${b.accountType}`).sort();
}

export function rewindContract(factory: StoreFactory): void {
  describe('rewind', () => {
    it('model-based: after random operations and rewinds, a rewind to any earlier moment gives the bindings of that moment', async (t) => {
      const { store } = await factory.open(t);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 3, maxLength: 14 }), rules, async (steps, bindingRules) => {
          // A new app per run, with a cap low enough that binds evict, so that evictions are undone too.
          const app = await newApp(store, String(1600000000 + run++), { maxTokensPerAccount: 2, bindingRules });
          // Moments between steps: every write before a moment began before it, every one after it after.
          const moments: { at: number; state: string[] }[] = [];
          const mark = async () => {
            await sleep(2);
            moments.push({ at: Date.now(), state: await membership(store, app.id) });
            await sleep(2);
          };
          await mark();
          for (const s of steps) {
            if ('elements' in s) {
              await writeBatch(store, app.id, cmd(s.elements, { platform: 'ios' }));
            } else if ('dead' in s) {
              const reports = s.dead.map((t) => ({ token: t, reason: 'apns: Unregistered (410)', at: Date.now() }));
              await writeBatch(store, app.id, { kind: 'feedback', reports });
            } else if ('restore' in s) {
              await writeBatch(store, app.id, { kind: 'restore', tokens: s.restore });
            } else if ('purge' in s) {
              await writeBatch(store, app.id, {
                kind: 'sweep',
                now: Date.now() + 40 * DAY_MS,
                purgeLimit: 100,
                tokens: [],
              });
            } else {
              const target = moments[s.rewindTo % moments.length]!;
              const before = await membership(store, app.id);
              const result = await writeBatch(store, app.id, rewind(target.at, s.dryRun));
              const after = await membership(store, app.id);
              const added = target.state.filter((k) => !before.includes(k)).length;
              const removed = before.filter((k) => !target.state.includes(k)).length;
              assert.deepEqual(result.rewind, { bind: added, unbind: removed, dryRun: s.dryRun });
              if (s.dryRun) {
                assert.deepEqual(after, before, 'a dry run changes nothing');
                assert.equal(result.revision, 0);
              } else {
                assert.deepEqual(after, target.state, 'the bindings are those of the moment rewound to');
                assert.ok(result.revision > 0);
              }
            }
            await mark();
          }
          // Finally, back to every moment in turn, newest first (each rewind over the ones before it).
          for (const target of [...moments].reverse()) {
            await writeBatch(store, app.id, rewind(target.at));
            assert.deepEqual(await membership(store, app.id), target.state);
          }
        }),
        { numRuns: size(40, 300), seed: Number(process.env.BINDERY_FC_SEED ?? Date.now() % 2 ** 31) },
      );
    });

    it('records each binding it brings back or removes in the history with cause rewind, and takes one revision', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, cmd([{ op: 1, token: 't1', accounts: [acc('ann')] }]));
      await writeBatch(store, app.id, cmd([{ op: 1, token: 't3', accounts: [acc('cat')] }]));
      await sleep(3);
      const moment = Date.now();
      await sleep(3);
      // A client's bug: everyone unbound, and a stray binding made; t3 bound again (a refresh, which stays).
      await writeBatch(store, app.id, cmd([{ op: 4, token: 't1' }]));
      await writeBatch(store, app.id, cmd([{ op: 1, token: 't3', accounts: [acc('cat')] }]));
      const stray = await writeBatch(store, app.id, cmd([{ op: 1, token: 't2', accounts: [acc('bob')] }]));
      const dry = await writeBatch(store, app.id, rewind(moment, true));
      assert.deepEqual(dry.rewind, { bind: 1, unbind: 1, dryRun: true });
      const done = await writeBatch(store, app.id, rewind(moment));
      assert.equal(done.revision, stray.revision + 1);
      assert.deepEqual(await membership(store, app.id), ['t1|ann|0', 't3|cat|0']);
      const entries = await store.history(app.id, {}, 10);
      assert.deepEqual(
        entries
          .slice(0, 2)
          .map((e) => `${e.cause} ${e.token} ${e.account}`)
          .sort(),
        ['rewind t1 ann', 'rewind t2 bob'],
      );
    });

    it('is refused, changing nothing, when an import came after the time or the history was trimmed past it', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, cmd([{ op: 1, token: 't1', accounts: [acc('ann')] }]));
      await sleep(3);
      const beforeImport = Date.now();
      await sleep(3);
      await store.importBindings(app.id, [
        asBound({ token: 'imp', account: 'zed', accountType: 0, platform: null, boundAt: Date.now() * 1000 }),
      ]);
      await sleep(3);
      const afterImport = Date.now();
      await sleep(3);
      await writeBatch(store, app.id, cmd([{ op: 4, token: 't1' }]));
      const state = await membership(store, app.id);
      await assert.rejects(writeBatch(store, app.id, rewind(beforeImport)), (error: Error) => {
        assert.ok(error instanceof RewindRefusedError, String(error));
        assert.match(error.message, /holds every change only since .*an import/);
        return true;
      });
      assert.deepEqual(await membership(store, app.id), state, 'a refused rewind changes nothing');
      // After the import, the history answers.
      await writeBatch(store, app.id, rewind(afterImport));
      assert.deepEqual(await membership(store, app.id), ['imp|zed|0', 't1|ann|0']);

      // Retention: history before a cutoff is swept; a rewind to before the cutoff is refused.
      await sleep(3);
      const beforeCutoff = Date.now();
      await sleep(3);
      await writeBatch(store, app.id, cmd([{ op: 4, token: 'imp' }]));
      await sleep(3);
      const cutoff = Date.now();
      await store.sweep({ historyBefore: cutoff, idempotencyBefore: 0, webhooksBefore: 0 });
      await assert.rejects(writeBatch(store, app.id, rewind(beforeCutoff)), RewindRefusedError);
      await writeBatch(store, app.id, rewind(cutoff));
      assert.deepEqual(await membership(store, app.id), ['t1|ann|0']);
    });

    it("leaves other apps' bindings alone while they write during the rewind", async (t) => {
      const { store } = await factory.open(t);
      const a = await newApp(store, '1500000001', { maxTokensPerAccount: 100_000, maxAccountsPerToken: 100_000 });
      const b = await newApp(store, '1500000002');
      const first = Array.from({ length: 300 }, (_, i) => ({ op: 1 as const, token: `a${i}`, accounts: [acc('x')] }));
      for (let i = 0; i < first.length; i += 100) await writeBatch(store, a.id, cmd(first.slice(i, i + 100)));
      await sleep(3);
      const moment = Date.now();
      await sleep(3);
      await writeBatch(store, a.id, cmd([{ op: 5, account: acc('x') }]));
      // B's writers run before, during and after A's rewind; every answered bind of B must be there.
      let writing = true;
      const answered: string[] = [];
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; writing; i++) {
          const tokenName = `b${w}-${i}`;
          await writeBatch(store, b.id, cmd([{ op: 1, token: tokenName, accounts: [acc(`u${w}-${i}`)] }]));
          answered.push(tokenName);
        }
      });
      await sleep(20);
      const result = await writeBatch(store, a.id, rewind(moment));
      await sleep(20);
      writing = false;
      await Promise.all(writers);
      assert.deepEqual(result.rewind, { bind: 300, unbind: 0, dryRun: false });
      assert.equal((await membership(store, a.id)).length, 300);
      const bTokens = (await allBindings(store, b.id)).map((x) => x.token).sort();
      assert.deepEqual(bTokens, [...answered].sort(), 'B has exactly its answered binds');
      assert.ok(answered.length > 10, `${answered.length} binds of B answered`);
      const bHistory = await store.history(b.id, {}, 1000);
      assert.equal(bHistory.filter((e) => e.cause === 'rewind').length, 0);
    });
  });
}
