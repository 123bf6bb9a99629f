/** The sweeper: retention of history, idempotency keys and webhook logs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Sweeper } from '../../src/background/sweeper.ts';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { bindAlice, sqliteStoreWithApp } from '../support/helpers.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;

describe('sweeper', () => {
  it('keeps history for the retention period and removes it after', async (t) => {
    const { store, app } = await sqliteStoreWithApp(t);
    await writeBatch(store, app.id, bindAlice('t1'));
    const sweeper = new Sweeper(store, { intervalMs: 60_000, retentionDays: 30 }, log);
    const none = { warned: 0, expired: 0, purged: 0 };
    assert.deepEqual(await sweeper.sweep(Date.now() + 29 * DAY), { history: 0, idempotency: 0, webhooks: 0, ...none });
    assert.deepEqual(await sweeper.sweep(Date.now() + 31 * DAY), { history: 1, idempotency: 0, webhooks: 0, ...none });
  });
});
