import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Sweeper } from '../../src/background/sweeper.ts';
import { WebhookDeliverer, webhookSignature } from '../../src/background/webhook-deliverer.ts';
import { DEFAULT_POLICY } from '../../src/domain/types.ts';
import { sqliteStore } from '../helpers.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;
const bind = (token: string) => ({ elements: [{ op: 1 as const, token, accounts: [{ account: 'alice', accountType: 0 }] }], platform: null, opType: null, opId: null });

describe('sweeper', () => {
  it('keeps history for the retention period and removes it after', async (t) => {
    const { store } = await sqliteStore(t);
    const app = await store.createApp({ accessId: '1500000001', name: 'x', secretKey: 'a'.repeat(32), policy: DEFAULT_POLICY });
    await store.applyBatch(app.id, bind('t1'));
    const sweeper = new Sweeper(store, { intervalMs: 60_000, retentionDays: 30 }, log);
    assert.deepEqual(await sweeper.sweep(Date.now() + 29 * DAY), { history: 0, idempotency: 0, webhooks: 0 });
    assert.deepEqual(await sweeper.sweep(Date.now() + 31 * DAY), { history: 1, idempotency: 0, webhooks: 0 });
  });
});

describe('webhook deliverer', () => {
  it('signs with the timestamp, backs off, and gives up after the give-up age', async (t) => {
    assert.equal(webhookSignature('s', 1700000000, '{}'), 't=1700000000,v1=' + (await import('node:crypto')).createHmac('sha256', 's').update('1700000000.{}').digest('hex'));
    const receiver = createServer((_req, res) => ((res.statusCode = 503), res.end()));
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    t.after(() => receiver.close());
    const address = receiver.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const { store } = await sqliteStore(t);
    const app = await store.createApp({ accessId: '1500000001', name: 'x', secretKey: 'a'.repeat(32), policy: DEFAULT_POLICY });
    await store.updateApp(app.accessId, { webhook: { url: `http://127.0.0.1:${port}/`, secret: 's' } });
    await store.applyBatch(app.id, bind('t1'));
    await store.applyBatch(app.id, bind('t2'));
    const results: string[] = [];
    const deliverer = new WebhookDeliverer(store, { pollMs: 10, retryBaseMs: 1000, giveUpMs: 60 * 60_000, timeoutMs: 2000, onAttempt: (r) => results.push(r) }, log);
    assert.equal(await deliverer.deliverDue(), 1);
    assert.deepEqual(results, ['retry']);
    assert.equal(await deliverer.deliverDue(), 0, 'backing off: nothing due right away');
    const later = Date.now() + 2 * 60 * 60_000;
    t.mock.timers.enable({ apis: ['Date'], now: later });
    assert.equal(await deliverer.deliverDue(), 1);
    assert.deepEqual(results, ['retry', 'failed'], 'older than the give-up age: failed for good');
    const deliveries = await store.webhookDeliveries(app.id, 10);
    assert.deepEqual(deliveries.map((d) => [d.attempt, d.status, d.error]), [[2, 503, 'HTTP 503'], [1, 503, 'HTTP 503']]);
    assert.equal(await deliverer.deliverDue(), 1, 'the next event of the app goes next');
  });
});
