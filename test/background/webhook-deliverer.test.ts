/** The webhook deliverer: retries, backoff, signatures, and where it refuses to send. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { WebhookDeliverer, webhookSignature } from '../../src/background/webhook-deliverer.ts';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { isInwardAddress, outwardLookup } from '../../src/domain/webhook-target.ts';
import { bindAlice, sqliteStoreWithApp } from '../support/helpers.ts';

const log = pino({ level: 'silent' });

/** A webhook receiver on loopback that answers every request with `status`; resolves to its port. */
async function receiver(t: TestContext, status: number, onRequest: () => void = () => undefined): Promise<number> {
  const server = createServer((_req, res) => {
    onRequest();
    res.statusCode = status;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

describe('webhook deliverer', () => {
  it('signs with the timestamp, backs off, and gives up after the give-up age', async (t) => {
    assert.equal(
      webhookSignature('s', 1700000000, '{}'),
      't=1700000000,v1=' +
        (await import('node:crypto')).createHmac('sha256', 's').update('1700000000.{}').digest('hex'),
    );
    const port = await receiver(t, 503);
    const { store, app } = await sqliteStoreWithApp(t);
    await store.updateApp(app.accessId, { webhook: { url: `http://127.0.0.1:${port}/`, secret: 's' } });
    await writeBatch(store, app.id, bindAlice('t1'));
    await writeBatch(store, app.id, bindAlice('t2'));
    const results: string[] = [];
    const deliverer = new WebhookDeliverer(
      store,
      {
        pollMs: 10,
        retryBaseMs: 1000,
        giveUpMs: 60 * 60_000,
        timeoutMs: 2000,
        allowPrivate: true,
        onAttempt: (r) => results.push(r),
      },
      log,
    );
    assert.equal(await deliverer.deliverDue(), 1);
    assert.deepEqual(results, ['retry']);
    assert.equal(await deliverer.deliverDue(), 0, 'backing off: nothing due right away');
    const later = Date.now() + 2 * 60 * 60_000;
    t.mock.timers.enable({ apis: ['Date'], now: later });
    assert.equal(await deliverer.deliverDue(), 1);
    assert.deepEqual(results, ['retry', 'failed'], 'older than the give-up age: failed for good');
    const deliveries = await store.webhookDeliveries(app.id, 10);
    assert.deepEqual(
      deliveries.map((d) => [d.attempt, d.status, d.error]),
      [
        [2, 503, 'HTTP 503'],
        [1, 503, 'HTTP 503'],
      ],
    );
    assert.equal(await deliverer.deliverDue(), 1, 'the next event of the app goes next');
  });

  it('delivers nothing to a loopback, link-local or private address unless allowed, checked on the address it connects to', async (t) => {
    let received = 0;
    const port = await receiver(t, 204, () => received++);
    const { store, app } = await sqliteStoreWithApp(t);
    const options = { pollMs: 10, retryBaseMs: 1, giveUpMs: 60 * 60_000, timeoutMs: 2000 };
    // URLs set before this check existed, or a name whose DNS changed: the store holds them as they are.
    for (const url of [
      `http://127.0.0.1:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://localhost:${port}/`,
    ]) {
      await store.updateApp(app.accessId, { webhook: { url, secret: 's' } });
      await writeBatch(store, app.id, bindAlice(`t-${url}`));
      while ((await new WebhookDeliverer(store, options, log).deliverDue(Date.now() + 60_000)) > 0);
    }
    assert.equal(received, 0, 'nothing reached the loopback receiver');
    const errors = (await store.webhookDeliveries(app.id, 10)).map((d) => d.error ?? '');
    assert.ok(
      errors.length >= 3 && errors.every((e) => /loopback, link-local or private address|is this machine/.test(e)),
      errors.join('\n'),
    );
    assert.ok(errors.every((e) => /BINDERY_WEBHOOK_ALLOW_PRIVATE=true/.test(e)));

    await new WebhookDeliverer(store, { ...options, allowPrivate: true }, log).deliverDue(Date.now() + 3_600_000);
    assert.equal(received, 1, 'allowed: delivered');
  });

  it('resolves a name and refuses it when DNS gives an inward address', async () => {
    const lookup = (host: string) =>
      new Promise<string>((resolve, reject) =>
        outwardLookup(host, {}, (error, address) => (error ? reject(error) : resolve(String(address)))),
      );
    await assert.rejects(
      lookup('localhost'),
      /localhost resolves to (127\.0\.0\.1|::1), a loopback, link-local or private address/,
    );
    assert.equal(isInwardAddress('169.254.169.254'), true);
    assert.equal(isInwardAddress('10.0.0.1'), true);
    assert.equal(isInwardAddress('fd00::1'), true);
    assert.equal(isInwardAddress('::ffff:192.168.1.1'), true);
    assert.equal(isInwardAddress('8.8.8.8'), false);
    assert.equal(isInwardAddress('2001:4860:4860::8888'), false);
  });
});
