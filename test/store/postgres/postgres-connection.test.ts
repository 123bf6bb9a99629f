/**
 * PostgresConnection.withClient: one deadline covers waiting for a connection and the work on it.
 * Each case runs with other calls in flight on the same pool, and checks the pool serves afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StoreError } from '../../../src/errors.ts';
import { PostgresConnection } from '../../../src/store/postgres/postgres-connection.ts';
import { TestPostgres } from '../../support/postgres-server.ts';

let server: TestPostgres;
before(async () => {
  server = await TestPostgres.start();
});
after(() => server?.destroy());

const timedOut = (pattern: RegExp) => (error: unknown) =>
  error instanceof StoreError && error.unavailable && pattern.test(error.message);

describe('PostgresConnection deadlines', () => {
  it('gives up waiting for a connection at its deadline; the one that frees later goes back and serves', async (t) => {
    const db = new PostgresConnection(await server.createDatabase(), { timeoutMs: 2000, poolSize: 2 });
    // Bounded: a connection kept checked out would hold the pool's end forever.
    t.after(() => db.close(), { timeout: 5000 });
    // Both connections busy for 700 ms; the waiting call has 400 ms left (less than the pool's own 2 s wait).
    const busy = [1, 2].map(() => db.query('sleep', 'SELECT pg_sleep(0.7)', []));
    const started = Date.now();
    await assert.rejects(
      db.query('wait', 'SELECT 1 AS one', [], started + 400),
      timedOut(/^PostgreSQL wait failed: no connection within 2000 ms$/),
    );
    const waited = Date.now() - started;
    assert.ok(waited >= 350 && waited < 650, `gave up after ${waited} ms`);
    await Promise.all(busy);
    // The connection that freed after the call gave up went back to the pool: two calls at once are served at once.
    const at = Date.now();
    await Promise.all([1, 2].map(() => db.query('pid', 'SELECT pg_backend_pid() AS pid', [])));
    assert.ok(Date.now() - at < 1000, 'a connection was kept by the call that gave up');
    assert.equal(db.pool.totalCount, 2);
  });

  it('fails a statement still running at the deadline, replaces its connection, and serves the calls queued behind it', async (t) => {
    const db = new PostgresConnection(await server.createDatabase(), { timeoutMs: 2000, poolSize: 1 });
    t.after(() => db.close());
    const far = () => db.deadline();
    const pid = async () =>
      (await db.query<{ pid: number }>('pid', 'SELECT pg_backend_pid() AS pid', [], far())).rows[0]!.pid;
    const before = await pid();
    const started = Date.now();
    const slow = db.query('slow', 'SELECT pg_sleep(3)', [], started + 300);
    // Queued behind the slow statement on the only connection, with their whole 2 s to wait for it.
    const queued = Array.from({ length: 20 }, (_, i) =>
      db.query<{ n: number }>('queued', 'SELECT $1::int AS n', [i], far()),
    );
    await assert.rejects(slow, timedOut(/^PostgreSQL slow failed: no answer within 2000 ms$/));
    const took = Date.now() - started;
    assert.ok(took < 1500, `the slow statement failed after ${took} ms, not at its deadline`);
    assert.deepEqual(
      (await Promise.all(queued)).map((r) => r.rows[0]!.n),
      Array.from({ length: 20 }, (_, i) => i),
    );
    // The slow statement's connection was destroyed, not handed on still busy: the queued calls ran on a new one.
    assert.notEqual(await pid(), before);
  });

  it('answers what the work decided as it is, keeping the connection', async (t) => {
    const db = new PostgresConnection(await server.createDatabase(), { timeoutMs: 2000, poolSize: 1 });
    t.after(() => db.close());
    const decided = new Error('the app is gone');
    await assert.rejects(
      db.withClient('work', db.deadline(), async () => {
        throw decided;
      }),
      (error: unknown) => error === decided,
    );
    const { rows } = await db.query<{ one: number }>('after', 'SELECT 1 AS one', []);
    assert.equal(rows[0]!.one, 1);
    assert.equal(db.pool.totalCount, 1);
  });
});
