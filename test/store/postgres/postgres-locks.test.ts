/**
 * What a PostgreSQL write holds (src/store/postgres/postgres-locks.ts): the keys it touches, not
 * the app. Another transaction holds a key the way an instance's group in flight does (the app
 * shared, the key exclusive) while batches are sent; the ones that need the key wait for its commit,
 * the others are answered meanwhile, and revisions follow the commits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { writeBatch } from '../../../src/domain/run-batch.ts';
import type { BatchResult } from '../../../src/model/batch-transaction.ts';
import { type AccountKey, DEFAULT_POLICY } from '../../../src/model/types.ts';
import { accountLock, tokenLock } from '../../../src/store/postgres/postgres-locks.ts';
import { PostgresStore } from '../../../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../../support/postgres-server.ts';

let server: TestPostgres;
before(async () => {
  server = await TestPostgres.start();
});
after(() => server?.destroy());

const account = (name: string): AccountKey => ({ account: name, accountType: 0 });
const command = (op: 1 | 2, token: string, accounts: string[]) => ({
  elements: [{ op, token, accounts: accounts.map(account) }],
  platform: null,
  opType: null,
  opId: null,
});

/** A transaction of another instance that holds these keys of the app until `release`. */
async function holdKeys(url: string, appId: number, keys: number[]) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_advisory_xact_lock_shared($1, 0)', [appId]);
  for (const key of keys) await client.query('SELECT pg_advisory_xact_lock($1, $2)', [appId, key]);
  return {
    release: async () => {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** Whether the promise is still pending after other work has had `ms` to run. */
async function pending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const first = await Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve(marker), ms))]);
  return first === marker;
}

async function openApp() {
  const url = await server.createDatabase();
  const store = await PostgresStore.open(url, { timeoutMs: 10_000, poolSize: 6 });
  const app = await store.createApp({
    accessId: '1500000002',
    name: 'x',
    secretKey: 'a'.repeat(32),
    policy: DEFAULT_POLICY,
  });
  return { url, store, appId: app.id };
}

const accountsOf = async (store: PostgresStore, appId: number, token: string) =>
  ((await store.accountsOfTokens(appId, [token]))[0] ?? []).map((a) => a.account);

describe('PostgreSQL locks what a batch touches', () => {
  it('a batch naming a held token waits for its commit; batches on other keys are answered meanwhile', async () => {
    const { url, store, appId } = await openApp();
    const holder = await holdKeys(url, appId, [tokenLock('held')]);
    const waiting = writeBatch(store, appId, command(1, 'held', ['ann']));
    const others: BatchResult[] = [];
    for (const token of ['free1', 'free2', 'free3'])
      others.push(await writeBatch(store, appId, command(1, token, ['bob'])));
    assert.deepEqual(
      others.map((r) => r.revision),
      [1, 2, 3],
      'the other batches committed, numbered in order, while the held one waits',
    );
    assert.equal(await pending(waiting, 300), true, 'the batch on the held token has not been applied');
    assert.deepEqual(await accountsOf(store, appId, 'held'), []);
    await holder.release();
    const applied = await waiting;
    assert.deepEqual(applied.outcomes, [{ code: 0 }]);
    assert.equal(applied.revision, 4, 'numbered after every batch that committed before it');
    assert.deepEqual(await accountsOf(store, appId, 'held'), ['ann']);
    assert.ok(store.writeStats.deferred >= 1, 'it was deferred, not waited for mid-group');
    await store.close();
  });

  it('a batch waits for the far end of a binding it removes, though it does not name that account', async () => {
    const { url, store, appId } = await openApp();
    await writeBatch(store, appId, command(1, 'tok', ['far']));
    // op 2 replaces tok's accounts: it removes (tok, far), a binding of the account `far`, which
    // a batch holding `far` may be counting against its cap right now.
    const holder = await holdKeys(url, appId, [accountLock(account('far'))]);
    const replacing = writeBatch(store, appId, command(2, 'tok', ['near']));
    const other = await writeBatch(store, appId, command(1, 'elsewhere', ['bob']));
    assert.equal(other.revision, 2);
    assert.equal(await pending(replacing, 300), true, 'the removal waits for the holder of `far`');
    assert.deepEqual(await accountsOf(store, appId, 'tok'), ['far'], 'nothing of it was written');
    await holder.release();
    assert.deepEqual((await replacing).outcomes, [{ code: 0 }]);
    assert.deepEqual(await accountsOf(store, appId, 'tok'), ['near']);
    assert.deepEqual(await store.tokensOfAccounts(appId, [account('far')]), [[]]);
    await store.close();
  });

  it('a change of policy waits for a group in flight, and the batches after it see the new caps', async () => {
    const { url, store, appId } = await openApp();
    for (const a of ['a1', 'a2', 'a3']) await writeBatch(store, appId, command(1, 'tok', [a]));
    const holder = await holdKeys(url, appId, []);
    const update = store.updateApp('1500000002', { policy: { maxAccountsPerToken: 2 } });
    assert.equal(await pending(update, 300), true, 'the policy waits for the app held shared');
    await holder.release();
    await update;
    await writeBatch(store, appId, command(1, 'tok', ['a4']));
    assert.deepEqual(await accountsOf(store, appId, 'tok'), ['a3', 'a4'], 'evicted down to the new cap, oldest first');
    await store.close();
  });
});
