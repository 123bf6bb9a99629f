/** The sweeper: retention of history, idempotency keys and webhook logs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Sweeper } from '../../src/background/sweeper.ts';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { DEFAULT_POLICY } from '../../src/domain/types.ts';
import { sqliteStore } from '../support/helpers.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;
const bind = (token: string) => ({
  elements: [{ op: 1 as const, token, accounts: [{ account: 'alice', accountType: 0 }] }],
  platform: null,
  opType: null,
  opId: null,
});

describe('sweeper', () => {
  it('keeps history for the retention period and removes it after', async (t) => {
    const { store } = await sqliteStore(t);
    const app = await store.createApp({
      accessId: '1500000001',
      name: 'x',
      secretKey: 'a'.repeat(32),
      policy: DEFAULT_POLICY,
    });
    await writeBatch(store, app.id, bind('t1'));
    const sweeper = new Sweeper(store, { intervalMs: 60_000, retentionDays: 30 }, log);
    assert.deepEqual(await sweeper.sweep(Date.now() + 29 * DAY), { history: 0, idempotency: 0, webhooks: 0 });
    assert.deepEqual(await sweeper.sweep(Date.now() + 31 * DAY), { history: 1, idempotency: 0, webhooks: 0 });
  });
});
