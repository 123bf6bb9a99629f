/**
 * The BindingStore contract, continued: the token lifecycle on the single write path. Feedback,
 * seen, restore and the sweeps, with what they leave in history and events, and a feedback
 * racing a re-bind; every backend runs it unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Sweeper } from '../../src/background/sweeper.ts';
import { writeBatch } from '../../src/domain/run-batch.ts';
import type { BindingStore, WebhookEvent } from '../../src/model/store.ts';
import {
  type AccountKey,
  type App,
  type AppPolicy,
  asBound,
  type BatchCommand,
  DAY_MS,
  DEFAULT_POLICY,
  type WriteCommand,
} from '../../src/model/types.ts';
import { allBindings } from '../support/helpers.ts';
import type { StoreFactory } from './store-contract-support.ts';

const acc = (account: string): AccountKey => ({ account, accountType: 0 });
const bind = (token: string, ...accounts: string[]): BatchCommand => ({
  elements: [{ op: 1, token, accounts: accounts.map(acc) }],
  platform: null,
  opType: null,
  opId: null,
});
const feedback = (token: string, at = Date.now()): WriteCommand => ({
  kind: 'feedback',
  reports: [{ token, reason: 'apns: Unregistered (410)', at }],
});
const silent = { info() {}, warn() {}, error() {} } as unknown as ConstructorParameters<typeof Sweeper>[2];

async function newApp(store: BindingStore, policy: Partial<AppPolicy> = {}): Promise<App> {
  const app = await store.createApp({
    accessId: '1500000001',
    name: 'lifecycle',
    secretKey: 'a'.repeat(32),
    policy: { ...DEFAULT_POLICY, ...policy },
  });
  await store.updateApp(app.accessId, { webhook: { url: 'http://127.0.0.1:9/hook', secret: 's' } });
  return app;
}

const actions = async (store: BindingStore, app: App, command: WriteCommand) =>
  (await writeBatch(store, app.id, command)).outcomes.map((o) => o.action ?? o.code);

async function accountsOf(store: BindingStore, app: App, token: string): Promise<string[]> {
  const [accounts] = await store.accountsOfTokens(app.id, [token]);
  return (accounts ?? []).map((a) => a.account);
}

async function states(store: BindingStore, app: App, token: string): Promise<string[]> {
  const bindings = await store.bindingsOf(app.id, { token });
  return bindings.map((b) => `${b.account} ${b.quarantinedAt === null ? 'active' : `q:${b.quarantineReason}`}`);
}

async function causes(store: BindingStore, app: App, token: string): Promise<string[]> {
  return (await store.history(app.id, { token }, 100))
    .map((e) => `${e.operatorType} ${e.cause} ${e.account}`)
    .reverse();
}

/** Every pending event, in order, each marked delivered. */
async function events(store: BindingStore): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const seen: WebhookEvent[] = [];
  for (let claimed = await store.claimWebhookEvents(Date.now(), 1000, 10); claimed.length > 0; ) {
    for (const event of claimed) {
      seen.push(event);
      await store.completeWebhookEvent(event, {
        at: Date.now(),
        status: 200,
        error: null,
        durationMs: 1,
        next: 'delivered',
      });
    }
    claimed = await store.claimWebhookEvents(Date.now(), 1000, 10);
  }
  return seen.map((e) => ({ type: e.type, data: JSON.parse(e.payload) as Record<string, unknown> }));
}

export function lifecycleContract(factory: StoreFactory): void {
  describe('token lifecycle', () => {
    it('under a cap, a quarantined binding is evicted before a live one, even a newer one', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, { maxTokensPerAccount: 2 });
      await writeBatch(store, app.id, bind('old-live', 'alice'));
      await writeBatch(store, app.id, bind('new-dead', 'alice'));
      assert.deepEqual(await actions(store, app, feedback('new-dead')), ['quarantined']);
      await writeBatch(store, app.id, bind('newest', 'alice'));
      const tokens = (await allBindings(store, app.id)).filter((b) => b.account === 'alice').map((b) => b.token);
      assert.deepEqual(tokens.sort(), ['newest', 'old-live'], 'the dead token made room, not the live one');
      // With no quarantined binding left, the least recently bound goes, as before.
      await writeBatch(store, app.id, bind('fourth', 'alice'));
      const after = (await allBindings(store, app.id)).filter((b) => b.account === 'alice').map((b) => b.token);
      assert.deepEqual(after.sort(), ['fourth', 'newest']);
    });

    it('feedback quarantines every binding of a dead token: out of both queries, kept with its reason', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, bind('dead', 'alice', 'bob'));
      await writeBatch(store, app.id, bind('alive', 'alice'));
      await events(store);
      assert.deepEqual(await actions(store, app, feedback('dead')), ['quarantined']);
      assert.deepEqual(await actions(store, app, feedback('dead')), ['already_quarantined']);
      assert.deepEqual(await actions(store, app, feedback('nobody')), [10110008]);
      assert.deepEqual(await accountsOf(store, app, 'dead'), []);
      const [tokens] = await store.tokensOfAccounts(app.id, [acc('alice')]);
      assert.deepEqual(
        tokens?.map((x) => x.token),
        ['alive'],
      );
      assert.deepEqual(await states(store, app, 'dead'), [
        'alice q:apns: Unregistered (410)',
        'bob q:apns: Unregistered (410)',
      ]);
      assert.deepEqual(await causes(store, app, 'dead'), [
        '1 bind alice',
        '1 bind bob',
        '0 quarantined alice',
        '0 quarantined bob',
      ]);
      const [event, ...more] = await events(store);
      assert.equal(more.length, 0, 'one event for the token, not one per binding');
      assert.equal(event?.type, 'token.quarantined');
      assert.deepEqual(
        { ...event?.data, last_seen_at: undefined },
        {
          token: 'dead',
          cause: 'quarantined',
          reason: 'apns: Unregistered (410)',
          last_seen_at: undefined,
          accounts: [
            { account: 'alice', account_type: 0 },
            { account: 'bob', account_type: 0 },
          ],
          request_id: null,
        },
      );
      assert.equal((await store.countBindings(app.id)).quarantined, 1);
    });

    it('an answer older than the last bind is stale: the device came back since', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      const before = Date.now() - 1000;
      await writeBatch(store, app.id, bind('phone', 'alice'));
      assert.deepEqual(await actions(store, app, feedback('phone', before)), ['stale']);
      assert.deepEqual(await accountsOf(store, app, 'phone'), ['alice']);
    });

    it('restore and re-binding lift the quarantine of the whole token, in history and events', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, bind('a', 'alice', 'bob'));
      await writeBatch(store, app.id, bind('b', 'alice', 'bob'));
      await writeBatch(store, app.id, {
        kind: 'feedback',
        reports: ['a', 'b'].map((token) => ({ token, reason: 'fcm: UNREGISTERED', at: Date.now() })),
      });
      await events(store);
      assert.deepEqual(await actions(store, app, { kind: 'restore', tokens: ['a', 'a', 'zz'] }), [
        'restored',
        'active',
        10110008,
      ]);
      assert.deepEqual(await accountsOf(store, app, 'a'), ['alice', 'bob']);
      await writeBatch(store, app.id, bind('b', 'carol')); // the device registered again
      assert.deepEqual(await accountsOf(store, app, 'b'), ['alice', 'bob', 'carol']);
      assert.deepEqual((await causes(store, app, 'b')).slice(4), [
        '1 restored alice',
        '1 restored bob',
        '1 bind carol',
      ]);
      assert.deepEqual(
        (await events(store)).map(
          (e) => `${e.type} ${e.data.token} ${(e.data.accounts as unknown[] | undefined)?.length ?? e.data.account}`,
        ),
        ['token.restored a 2', 'token.restored b 2', 'binding.created b carol'],
      );
      const restored = await store.bindingsOf(app.id, { token: 'a' });
      assert.ok(restored.every((b) => b.lastSeenAt >= Date.now() - 5000 && b.quarantinedAt === null));
    });

    it('seen refreshes last_seen_at of active tokens only, with no history', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, bind('phone', 'alice', 'bob'));
      await writeBatch(store, app.id, bind('dead', 'alice'));
      await writeBatch(store, app.id, feedback('dead'));
      const before = await store.bindingsOf(app.id, { token: 'phone' });
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(await actions(store, app, { kind: 'seen', tokens: ['phone', 'dead', 'none'] }), [
        'seen',
        'already_quarantined',
        10110008,
      ]);
      const after = await store.bindingsOf(app.id, { token: 'phone' });
      assert.equal(after.length, 2);
      for (const b of after) assert.ok(b.lastSeenAt > before[0]!.lastSeenAt, 'every binding of the token moved on');
      assert.equal(new Set(after.map((b) => b.lastSeenAt)).size, 1, 'a token has one last_seen_at');
      assert.deepEqual(await causes(store, app, 'phone'), ['1 bind alice', '1 bind bob']);
      assert.deepEqual(await accountsOf(store, app, 'dead'), []);
    });

    it('the sweep warns, then expires a token unseen for token_ttl_days, then purges it', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, { tokenTtlDays: 10, expiryWarningDays: 3, quarantineDays: 5 });
      await writeBatch(store, app.id, bind('old', 'alice', 'bob'));
      await writeBatch(store, app.id, bind('kept', 'alice'));
      await events(store);
      const sweeper = new Sweeper(store, { intervalMs: 60_000, retentionDays: 365 }, silent);
      const t0 = Date.now();
      const at = (days: number) => t0 + days * DAY_MS;
      assert.deepEqual(await sweeper.sweepLifecycle(at(6.9)), { warned: 0, expired: 0, purged: 0 });
      assert.deepEqual(await sweeper.sweepLifecycle(at(7.1)), { warned: 2, expired: 0, purged: 0 });
      assert.deepEqual(await sweeper.sweepLifecycle(at(7.2)), { warned: 0, expired: 0, purged: 0 }, 'warned once');
      const warnings = await events(store);
      assert.deepEqual(warnings.map((e) => `${e.type} ${e.data.token}`).sort(), [
        'token.expiring kept',
        'token.expiring old',
      ]);
      assert.ok(Date.parse(String(warnings[0]!.data.expires_at)) >= at(10), 'says when it will expire');
      await writeBatch(store, app.id, { kind: 'seen', tokens: ['kept'] });
      const seenAgain = await store.bindingsOf(app.id, { token: 'kept' });
      assert.equal(seenAgain[0]!.expiryWarnedAt, null, 'seen clears the warning');
      await writeBatch(store, app.id, {
        elements: [{ op: 4, token: 'kept' }],
        platform: null,
        opType: null,
        opId: null,
      });
      await events(store);

      assert.deepEqual(await sweeper.sweepLifecycle(at(9)), { warned: 0, expired: 0, purged: 0 });
      assert.deepEqual(await sweeper.sweepLifecycle(at(10.5)), { warned: 0, expired: 1, purged: 0 });
      assert.deepEqual(await accountsOf(store, app, 'old'), []);
      assert.deepEqual(await states(store, app, 'old'), [
        'alice q:expired: not seen for 10 days',
        'bob q:expired: not seen for 10 days',
      ]);
      assert.deepEqual(
        (await events(store)).map((e) => `${e.type} ${e.data.token} ${e.data.cause}`),
        ['token.quarantined old expired'],
      );

      assert.deepEqual(await sweeper.sweepLifecycle(at(15)), { warned: 0, expired: 0, purged: 0 }, 'kept 5 days');
      assert.deepEqual(await sweeper.sweepLifecycle(at(15.6)), { warned: 0, expired: 0, purged: 1 });
      assert.deepEqual(await store.bindingsOf(app.id, { token: 'old' }), []);
      assert.deepEqual((await causes(store, app, 'old')).slice(2), [
        '0 expired alice',
        '0 expired bob',
        '0 purged alice',
        '0 purged bob',
      ]);
      assert.deepEqual(
        (await events(store))
          .filter((e) => e.data.token === 'old')
          .map((e) => `${e.type} ${e.data.account} ${e.data.cause}`),
        ['binding.deleted alice purged', 'binding.deleted bob purged'],
      );
    });

    it('turning expiry on never quarantines a token without its warning first', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, bind('ancient', 'alice'));
      const sweeper = new Sweeper(store, { intervalMs: 60_000, retentionDays: 365 }, silent);
      const t0 = Date.now();
      assert.deepEqual(await sweeper.sweepLifecycle(t0 + 100 * DAY_MS), { warned: 0, expired: 0, purged: 0 }, 'off');
      await store.updateApp(app.accessId, { policy: { tokenTtlDays: 30, expiryWarningDays: 7 } });
      assert.deepEqual(await sweeper.sweepLifecycle(t0 + 100 * DAY_MS), { warned: 1, expired: 0, purged: 0 });
      assert.deepEqual(await sweeper.sweepLifecycle(t0 + 106 * DAY_MS), { warned: 0, expired: 0, purged: 0 });
      assert.deepEqual(await sweeper.sweepLifecycle(t0 + 107.1 * DAY_MS), { warned: 0, expired: 1, purged: 0 });
    });

    it('a sweep works off a backlog larger than one slice', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, { quarantineDays: 1 });
      const tokens = Array.from({ length: 1_234 }, (_, i) => `t${i}`);
      for (let i = 0; i < tokens.length; i += 100) {
        await writeBatch(store, app.id, {
          elements: tokens.slice(i, i + 100).map((token) => ({ op: 1, token, accounts: [acc(`u-${token}`)] })),
          platform: null,
          opType: null,
          opId: null,
        });
      }
      for (let i = 0; i < tokens.length; i += 1000) {
        await writeBatch(store, app.id, {
          kind: 'feedback',
          reports: tokens.slice(i, i + 1000).map((token) => ({ token, reason: 'fcm: UNREGISTERED', at: Date.now() })),
        });
      }
      const sweeper = new Sweeper(store, { intervalMs: 60_000, retentionDays: 365 }, silent);
      assert.deepEqual(await sweeper.sweepLifecycle(Date.now() + 2 * DAY_MS), { warned: 0, expired: 0, purged: 1_234 });
      assert.equal((await allBindings(store, app.id)).length, 0);
    });

    it('exports and imports states and times intact', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, bind('dead', 'alice'));
      await writeBatch(store, app.id, bind('alive', 'alice'));
      await writeBatch(store, app.id, feedback('dead'));
      const exported = await allBindings(store, app.id);
      const copy = await store.createApp({
        accessId: '1500000002',
        name: 'copy',
        secretKey: 'b'.repeat(32),
        policy: DEFAULT_POLICY,
      });
      await store.importBindings(copy.id, exported);
      assert.deepEqual(await allBindings(store, copy.id), exported);
      assert.deepEqual(await accountsOf(store, copy, 'dead'), [], 'still quarantined');

      // A binding given twice applies as its later line says, plain or not: rows keep their order.
      const plain = asBound({ token: 'x', account: 'alice', accountType: 0, platform: null, boundAt: 5_000_000 });
      const held = { ...plain, quarantinedAt: 7, quarantineReason: 'imported', lastSeenAt: 6 };
      await store.importBindings(copy.id, [plain, held, { ...plain, token: 'y' }, { ...held, token: 'z' }]);
      await store.importBindings(copy.id, [
        { ...held, token: 'y' },
        { ...plain, token: 'y' },
        { ...plain, token: 'z' },
      ]);
      const final = (await allBindings(store, copy.id)).filter((b) => ['x', 'y', 'z'].includes(b.token));
      assert.deepEqual(final, [held, { ...plain, token: 'y' }, { ...plain, token: 'z' }]);
    });

    it('feedback racing a re-bind ends in one of the two serial orders, never a mix', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      const seenOrders = new Set<string>();
      for (let round = 0; round < 25; round++) {
        const token = `race-${round}`;
        await writeBatch(store, app.id, bind(token, 'alice', 'bob', 'carol'));
        // The answer is "after" any bind of this round: in the order feedback-then-bind, the bind lifts it; in the
        // order bind-then-feedback, the feedback quarantines all four bindings.
        // Both in flight at once; which is asked first alternates, so that either may win.
        const writes = [
          () => writeBatch(store, app.id, feedback(token, Date.now() + 60_000)),
          () => writeBatch(store, app.id, bind(token, 'dave')),
        ];
        if (round % 2 === 1) writes.reverse();
        await Promise.all(writes.map((write) => write()));
        const final = await store.bindingsOf(app.id, { token });
        assert.equal(final.length, 4);
        const quarantined = final.filter((b) => b.quarantinedAt !== null).length;
        assert.ok(quarantined === 0 || quarantined === 4, `round ${round}: ${quarantined} of 4 quarantined`);
        const history = (await causes(store, app, token)).slice(3);
        const expected =
          quarantined === 4
            ? ['1 bind dave', '0 quarantined alice', '0 quarantined bob', '0 quarantined carol', '0 quarantined dave']
            : [
                '0 quarantined alice',
                '0 quarantined bob',
                '0 quarantined carol',
                '1 restored alice',
                '1 restored bob',
                '1 restored carol',
                '1 bind dave',
              ];
        assert.deepEqual(history, expected, `round ${round}: history tells the same serial order`);
        seenOrders.add(quarantined === 4 ? 'bind first' : 'feedback first');
      }
      t.diagnostic(`orders seen: ${[...seenOrders].join(', ')}`);
    });
  });
}
