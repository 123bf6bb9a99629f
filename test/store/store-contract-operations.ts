/** The BindingStore contract, continued: history, idempotency, the webhook outbox, sweeping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { IdempotencyMismatchError } from '../../src/errors.ts';
import { acc, bind, cmd, newApp, type StoreFactory } from './store-contract-support.ts';

const HOUR = 3600_000;

export function operationsContract(factory: StoreFactory): void {
  describe('history', () => {
    it('records every change with its cause and actor, newest first, in the same transaction', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 100, maxAccountsPerToken: 2 });
      await writeBatch(
        store,
        app.id,
        cmd([bind('t1', acc('a1'), acc('a2'))], { opType: 'qq', opId: '10001', requestId: 'req-1' }),
      );
      await writeBatch(store, app.id, cmd([bind('t1', acc('a3'))], { platform: 'ios' })); // evicts a1
      await writeBatch(store, app.id, cmd([{ op: 2, token: 't1', accounts: [acc('a4')] }])); // overrides a2, a3
      await writeBatch(store, app.id, cmd([bind('t2', acc('a4')), bind('t3', acc('a4'))]));
      await writeBatch(
        store,
        app.id,
        cmd([
          { op: 3, token: 't2', accounts: [acc('a4')] },
          { op: 4, token: 't3' },
          { op: 5, account: acc('a4') },
        ]),
      );
      const entries = await store.history(app.id, {}, 100);
      assert.deepEqual(
        entries.map((e) => `${e.operatorType} ${e.cause} ${e.token}/${e.account}`),
        [
          '5 account_reset t1/a4',
          '4 token_reset t3/a4',
          '3 unbind t2/a4',
          '1 bind t3/a4',
          '1 bind t2/a4',
          '2 bind t1/a4',
          '2 override t1/a3',
          '2 override t1/a2',
          '1 evicted t1/a1',
          '1 bind t1/a3',
          '1 bind t1/a2',
          '1 bind t1/a1',
        ],
      );
      const first = entries.at(-1)!;
      assert.deepEqual([first.opType, first.opId, first.requestId, first.accountType], ['qq', '10001', 'req-1', 0]);
      assert.ok(Math.abs(first.at - Date.now()) < 60_000);
      assert.equal(
        entries.find((e) => e.cause === 'evicted')?.platform,
        'ios',
        'the batch set the token platform before it evicted',
      );
      assert.ok(
        entries.every((e, i) => i === 0 || e.id < entries[i - 1]!.id),
        'ids decrease',
      );
    });

    it('filters by token, by account and by both, and pages with a cursor', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      const other = await newApp(store, '1500000002');
      for (let i = 0; i < 5; i++) await writeBatch(store, app.id, cmd([bind(`t${i}`, acc('alice'), acc('bob', 2))]));
      await writeBatch(store, other.id, cmd([bind('t0', acc('alice'))]));
      assert.equal((await store.history(app.id, {}, 100)).length, 10);
      assert.deepEqual(
        (await store.history(app.id, { token: 't3' }, 100)).map((e) => e.account),
        ['bob', 'alice'],
      );
      assert.deepEqual(
        (await store.history(app.id, { account: acc('bob', 2) }, 100)).map((e) => e.token),
        ['t4', 't3', 't2', 't1', 't0'],
      );
      assert.deepEqual(await store.history(app.id, { account: acc('bob') }, 100), []);
      assert.deepEqual(
        (await store.history(app.id, { token: 't1', account: acc('alice') }, 100)).map(
          (e) => `${e.token}/${e.account}`,
        ),
        ['t1/alice'],
      );
      const page1 = await store.history(app.id, { account: acc('alice') }, 2);
      const page2 = await store.history(app.id, { account: acc('alice') }, 2, page1.at(-1)!.id);
      const page3 = await store.history(app.id, { account: acc('alice') }, 2, page2.at(-1)!.id);
      assert.deepEqual(
        [...page1, ...page2, ...page3].map((e) => e.token),
        ['t4', 't3', 't2', 't1', 't0'],
      );
      assert.deepEqual(
        (await store.history(other.id, {}, 100)).map((e) => e.token),
        ['t0'],
        'apps never see each other',
      );
    });

    it('finds one token or account among thousands of changes, newest first, paging across them', async (t) => {
      // SQLite's token and account indexes of the history are cut into slices of 1,024 ids, walked
      // newest first: the changes looked for here lie thousands of ids apart, with other apps' between.
      const { store } = await factory.open(t);
      const app = await newApp(store, '1500000001', { maxTokensPerAccount: 100, maxAccountsPerToken: 100 });
      const other = await newApp(store, '1500000002');
      const filler = (round: number) =>
        cmd(Array.from({ length: 600 }, (_, i) => bind(`f${round}-${i}`, acc(`f${round}-${i}`))));
      for (let round = 0; round < 7; round++) {
        if (round % 3 === 0) await writeBatch(store, app.id, cmd([bind('tracked', acc(`a${round}`))]));
        if (round === 1) await writeBatch(store, other.id, cmd([bind('tracked', acc('a0'))]));
        await writeBatch(store, app.id, filler(round));
      }
      const all = await store.history(app.id, {}, 10_000);
      assert.equal(all.length, 3 + 7 * 600);
      assert.ok(all[0]!.id - all.at(-1)!.id > 3 * 1024, 'the changes span several slices');
      const tracked = await store.history(app.id, { token: 'tracked' }, 100);
      assert.deepEqual(
        tracked.map((e) => e.account),
        ['a6', 'a3', 'a0'],
      );
      const pages: string[] = [];
      for (let before: number | undefined, n = 0; n < 4; n++) {
        const page = await store.history(app.id, { token: 'tracked' }, 1, before);
        if (page.length === 0) break;
        pages.push(page[0]!.account);
        before = page[0]!.id;
      }
      assert.deepEqual(pages, ['a6', 'a3', 'a0'], 'one page at a time, each cursor crossing slices');
      assert.deepEqual(
        (await store.history(app.id, { token: 'tracked' }, 100, tracked[0]!.id)).map((e) => e.account),
        ['a3', 'a0'],
      );
      assert.deepEqual(
        (await store.history(app.id, { account: acc('a3') }, 100)).map((e) => e.token),
        ['tracked'],
      );
      assert.deepEqual(
        (await store.history(app.id, { token: 'tracked', account: acc('a0') }, 100)).map((e) => e.id),
        [tracked[2]!.id],
      );
      assert.deepEqual(
        (await store.history(app.id, { account: acc('f0-0') }, 100)).map((e) => e.token),
        ['f0-0'],
        'the oldest change of the app',
      );
      assert.deepEqual(
        (await store.history(other.id, { token: 'tracked' }, 100)).map((e) => e.account),
        ['a0'],
        'apps never see each other',
      );
      assert.deepEqual(await store.history(other.id, { account: acc('a3') }, 100), []);
      assert.deepEqual(await store.history(app.id, { token: 'never' }, 100), []);
    });

    it('a refused batch writes no history; deleting an app deletes its history', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await writeBatch(store, app.id, cmd([{ op: 4, token: 'nothing' }]));
      assert.deepEqual(await store.history(app.id, {}, 10), []);
      await writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]));
      await store.deleteApp(app.accessId);
      assert.deepEqual(await store.history(app.id, {}, 10), []);
    });
  });

  describe('idempotency', () => {
    it('the same key and body answers the stored result and applies nothing again', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      const key = { key: 'k-1', bodyHash: 'h1' };
      const first = await writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]), key);
      await writeBatch(store, app.id, cmd([{ op: 4, token: 't1' }]));
      const replay = await writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]), key);
      assert.deepEqual(replay, { ...first, replayed: true });
      assert.deepEqual(await store.tokensOfAccounts(app.id, [acc('alice')]), [[]], 'not applied again');
      await assert.rejects(
        writeBatch(store, app.id, cmd([bind('t2', acc('alice'))]), { key: 'k-1', bodyHash: 'h2' }),
        IdempotencyMismatchError,
      );
      const otherApp = await newApp(store, '1500000002');
      assert.equal(
        (await writeBatch(store, otherApp.id, cmd([bind('t1', acc('alice'))]), { key: 'k-1', bodyHash: 'h2' }))
          .replayed,
        undefined,
        'keys are per app',
      );
    });

    it('concurrent requests with one key apply once', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]), { key: 'same', bodyHash: 'h' }),
        ),
      );
      assert.equal(results.filter((r) => !r.replayed).length, 1);
      assert.equal(new Set(results.map((r) => r.revision)).size, 1, 'all answers are the one stored answer');
      assert.equal((await store.history(app.id, {}, 100)).length, 1);
    });
  });

  describe('webhook outbox', () => {
    it('queues events only while a webhook is set, and hands them out one at a time per app, in order', async (t) => {
      const { store } = await factory.open(t);
      const a = await newApp(store, '1500000001');
      const b = await newApp(store, '1500000002');
      await writeBatch(store, a.id, cmd([bind('before', acc('alice'))]));
      await store.updateApp(a.accessId, { webhook: { url: 'http://127.0.0.1:9/a', secret: 's-a' } });
      await store.updateApp(b.accessId, { webhook: { url: 'http://127.0.0.1:9/b', secret: 's-b' } });
      await writeBatch(store, a.id, cmd([bind('t1', acc('alice')), { op: 4, token: 'before' }]));
      await writeBatch(store, a.id, cmd([bind('t1', acc('alice'))])); // a refresh: no event
      await writeBatch(store, b.id, cmd([bind('t9', acc('zed'))]));
      const now = Date.now();
      const backlog = await store.webhookBacklog();
      assert.equal(backlog.pending, 3, 'a: created t1, deleted before; b: created t9');
      assert.ok(
        backlog.oldestAt! > now - 60_000 && backlog.oldestAt! <= now,
        `oldest event made just now: ${backlog.oldestAt}`,
      );
      const claimed = await store.claimWebhookEvents(now, 30_000, 10);
      assert.deepEqual(
        claimed.map((e) => [e.accessId, e.type, e.url, e.secret, e.attempts]),
        [
          ['1500000001', 'binding.created', 'http://127.0.0.1:9/a', 's-a', 0],
          ['1500000002', 'binding.created', 'http://127.0.0.1:9/b', 's-b', 0],
        ],
      );
      assert.deepEqual(JSON.parse(claimed[0]!.payload), {
        token: 't1',
        account: 'alice',
        account_type: 0,
        platform: null,
        cause: 'bind',
        operator_type: 1,
        bound_at: JSON.parse(claimed[0]!.payload).bound_at,
        op_type: null,
        op_id: null,
        request_id: null,
      });
      assert.deepEqual(await store.claimWebhookEvents(now, 30_000, 10), [], 'leased events are not handed out twice');
      const eventA = claimed[0]!;
      await store.completeWebhookEvent(eventA, {
        at: now,
        status: 500,
        error: 'HTTP 500',
        durationMs: 3,
        next: now + 1000,
      });
      assert.deepEqual(await store.claimWebhookEvents(now + 500, 30_000, 10), [], 'not due yet');
      const retry = await store.claimWebhookEvents(now + 1000, 30_000, 10);
      assert.deepEqual(
        retry.map((e) => [e.id, e.attempts]),
        [[eventA.id, 1]],
        'the same event again, not the next one',
      );
      await store.completeWebhookEvent(retry[0]!, {
        at: now + 1000,
        status: 204,
        error: null,
        durationMs: 2,
        next: 'delivered',
      });
      const next = await store.claimWebhookEvents(now + 1000, 30_000, 10);
      assert.deepEqual(
        next.map((e) => [e.type, JSON.parse(e.payload).cause]),
        [['binding.deleted', 'token_reset']],
      );
      const deliveries = await store.webhookDeliveries(a.id, 10);
      assert.deepEqual(
        deliveries.map((d) => [d.eventId, d.attempt, d.status, d.error]),
        [
          [eventA.id, 2, 204, null],
          [eventA.id, 1, 500, 'HTTP 500'],
        ],
      );
      await store.completeWebhookEvent(next[0]!, {
        at: now + 1000,
        status: null,
        error: 'gave up',
        durationMs: 1,
        next: 'failed',
      });
      assert.deepEqual(
        await store.claimWebhookEvents(now + 2000, 30_000, 10),
        [],
        'app A has nothing left; B is still leased',
      );
      assert.deepEqual(
        (await store.webhookBacklog()).pending,
        1,
        "delivered and given-up events leave the backlog; B's leased one is still in it",
      );
    });

    it('turning the webhook off drops its queued events', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await store.updateApp(app.accessId, { webhook: { url: 'http://127.0.0.1:9/', secret: 's' } });
      await writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]));
      await store.updateApp(app.accessId, { webhook: null });
      assert.equal((await store.findApp(app.accessId))?.webhook, null);
      await store.updateApp(app.accessId, { webhook: { url: 'http://127.0.0.1:9/', secret: 's' } });
      assert.deepEqual(await store.claimWebhookEvents(Date.now(), 1000, 10), []);
      assert.deepEqual(await store.webhookBacklog(), { pending: 0, oldestAt: null });
    });
  });

  describe('settings and sweeping', () => {
    it('keeps a rate limit and a webhook per app, and clears them with null', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      assert.deepEqual([app.rateLimit, app.webhook], [null, null]);
      const set = await store.updateApp(app.accessId, {
        rateLimit: { perSecond: 2.5, burst: 10 },
        webhook: { url: 'https://example.test/hook', secret: 'x' },
      });
      assert.deepEqual(
        [set?.rateLimit, set?.webhook],
        [
          { perSecond: 2.5, burst: 10 },
          { url: 'https://example.test/hook', secret: 'x' },
        ],
      );
      const renamed = await store.updateApp(app.accessId, { name: 'renamed' });
      assert.deepEqual(renamed?.rateLimit, { perSecond: 2.5, burst: 10 }, 'an unrelated change keeps them');
      const cleared = await store.updateApp(app.accessId, { rateLimit: null });
      assert.deepEqual([cleared?.rateLimit, cleared?.webhook?.url], [null, 'https://example.test/hook']);
    });

    it('sweeps what is older than the cutoffs, and nothing newer', async (t) => {
      const { store } = await factory.open(t);
      const app = await newApp(store);
      await store.updateApp(app.accessId, { webhook: { url: 'http://127.0.0.1:9/', secret: 's' } });
      await writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]), { key: 'k', bodyHash: 'h' });
      const [event] = await store.claimWebhookEvents(Date.now(), 1000, 10);
      await store.completeWebhookEvent(event!, {
        at: Date.now(),
        status: 200,
        error: null,
        durationMs: 1,
        next: 'delivered',
      });
      const past = Date.now() - HOUR;
      assert.deepEqual(await store.sweep({ historyBefore: past, idempotencyBefore: past, webhooksBefore: past }), {
        history: 0,
        idempotency: 0,
        webhooks: 0,
      });
      const future = Date.now() + HOUR;
      assert.deepEqual(
        await store.sweep({ historyBefore: future, idempotencyBefore: future, webhooksBefore: future }),
        { history: 1, idempotency: 1, webhooks: 2 },
      );
      assert.deepEqual(await store.history(app.id, {}, 10), []);
      assert.deepEqual(
        await store.tokensOfAccounts(app.id, [acc('alice')]).then((l) => l[0]?.map((x) => x.token)),
        ['t1'],
        'bindings are never swept',
      );
      assert.equal(
        (await writeBatch(store, app.id, cmd([bind('t1', acc('alice'))]), { key: 'k', bodyHash: 'other' })).replayed,
        undefined,
        'a swept key is free again',
      );
    });
  });
}
