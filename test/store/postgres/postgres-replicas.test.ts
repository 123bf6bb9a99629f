/**
 * Read replicas on a real PostgreSQL primary and a real streaming replica (embedded PostgreSQL 18,
 * the replica made from a copy of the primary's data directory). Two stores on the same database
 * play two bindery instances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { writeBatch } from '../../../src/domain/run-batch.ts';
import { StoreError } from '../../../src/errors.ts';
import { type AccountKey, type BatchElement, DEFAULT_POLICY } from '../../../src/model/types.ts';
import { PostgresStore, type PostgresStoreOptions } from '../../../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../../support/postgres-server.ts';

const alice: AccountKey = { account: 'alice', accountType: 0 };
const command = (elements: BatchElement[]) => ({ elements, platform: null, opType: null, opId: null });
const bind = (token: string) => command([{ op: 1, token, accounts: [alice] }]);
const unbind = (token: string) => command([{ op: 3, token, accounts: [alice] }]);

describe('read replicas', () => {
  let primary: TestPostgres;
  let replica: TestPostgres;
  let url: string;
  let readUrl: string;
  const stores: PostgresStore[] = [];

  before(async () => {
    primary = await TestPostgres.start();
    replica = await primary.startReplica();
    url = await primary.createDatabase();
    readUrl = replica.url(new URL(url).pathname.slice(1));
    await replicated(new URL(url).pathname.slice(1));
  });

  /** Resolves once `check` holds on the replica (asked every 50 ms, for 5 s at most). */
  async function onReplica(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await sleep(50);
    }
    throw new Error(`${what} did not reach the replica`);
  }

  /** Resolves once a database created on the primary has reached the replica. */
  const replicated = (database: string) =>
    onReplica(
      database,
      async () => (await replica.sql(`SELECT 1 FROM pg_database WHERE datname = '${database}'`)).length > 0,
    );

  /** Resolves once the replica has replayed the newest migration of the database the stores made. */
  async function schemaReplayed(): Promise<void> {
    const client = new pg.Client({ connectionString: readUrl });
    await client.connect();
    try {
      const sql = "SELECT to_regproc('bindery_accounts_of_token') IS NOT NULL AS ready";
      await onReplica('the schema', async () => (await client.query(sql)).rows[0].ready === true);
    } finally {
      await client.end();
    }
  }

  after(async () => {
    for (const store of stores) await store.close();
    await replica?.destroy();
    await primary?.destroy();
  });

  async function open(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const store = await PostgresStore.open(url, {
      timeoutMs: 2000,
      poolSize: 4,
      readUrls: [readUrl],
      replicaWaitMs: 200,
      replicaMaxLagMs: 1500,
      ...options,
    });
    stores.push(store);
    return store;
  }

  const newApp = (store: PostgresStore, accessId: string) =>
    store.createApp({
      accessId,
      name: accessId,
      secretKey: 's'.repeat(32),
      policy: { ...DEFAULT_POLICY, maxTokensPerAccount: 1000 },
    });

  const tokensOf = async (store: PostgresStore, appId: number, position?: string) =>
    ((await store.tokensOfAccounts(appId, [alice], undefined, position))[0] ?? []).map((t) => t.token).sort();

  it('a replica given as the primary (mid-switchover) is unavailable, so a server waits rather than exits', async () => {
    const fresh = new URL(await primary.createDatabase()).pathname.slice(1);
    await replicated(fresh);
    // Migrating it needs writes, which a replica refuses (SQLSTATE 25006): that is "not now", not "broken".
    await assert.rejects(
      PostgresStore.open(replica.url(fresh), { timeoutMs: 2000, poolSize: 1 }),
      (error: unknown) => error instanceof StoreError && error.unavailable && /read-only/.test(error.message),
    );
  });

  it('another instance reads a write whose position it was sent, and without it reads go stale', async (t) => {
    const [a, b] = [await open(), await open()];
    const app = await newApp(a, '1600000001');
    // The replica replays the schema the stores just made a moment later (on a loaded box, after the
    // first read): until it has, reads go to the primary and are never stale, which is not what this counts.
    await schemaReplayed();
    // A replica that applies what it receives 50 ms late (recovery_min_apply_delay, as delayed
    // replicas do): without it, whether a read just after a write is stale depends on this box's speed.
    await replica.sql("ALTER SYSTEM SET recovery_min_apply_delay = '50ms'");
    await replica.sql('SELECT pg_reload_conf()');
    t.after(async () => {
      await replica.sql('ALTER SYSTEM RESET recovery_min_apply_delay');
      await replica.sql('SELECT pg_reload_conf()');
    });
    let stale = 0;
    let staleWithPosition = 0;
    for (let i = 0; i < 40; i++) {
      await writeBatch(a, app.id, bind(`t${i}`));
      const position = a.writePosition(app.id);
      assert.match(String(position), /^[0-9A-F]+\/[0-9A-F]+$/);
      if (!(await tokensOf(b, app.id)).includes(`t${i}`)) stale++;
      if (!(await tokensOf(b, app.id, position)).includes(`t${i}`)) staleWithPosition++;
    }
    assert.ok(stale > 0, 'without the position, some reads on the replica missed the write just made');
    assert.equal(staleWithPosition, 0, 'reads sent the position never missed it');
    assert.ok(b.replicaStats()!.reads.replica > 0, 'the replica served reads');
  });

  it('a position past anything the primary wrote is served by the primary at once, not after the wait', async () => {
    const a = await open();
    const b = await open({ replicaWaitMs: 5000 });
    const app = await newApp(a, '1600000009');
    await schemaReplayed();
    await writeBatch(a, app.id, bind('made-up'));
    const before = { ...b.replicaStats()!.fallbacks };
    assert.deepEqual(await tokensOf(b, app.id, 'FFFFFFFF/FFFFFFFF'), ['made-up'], 'the primary answered');
    const after = b.replicaStats()!.fallbacks;
    assert.equal(after.beyond - before.beyond, 1, 'counted as a position beyond the primary');
    assert.equal(after.waited - before.waited, 0, 'no wait for a replica that would never get there');
    // A real position is still waited for and served by the replica.
    const position = a.writePosition(app.id);
    assert.deepEqual(await tokensOf(b, app.id, position), ['made-up']);
    assert.equal(b.replicaStats()!.fallbacks.beyond - before.beyond, 1);
  });

  it('reads its own writes; a model-checked run across two instances never reads stale', async () => {
    const [a, b] = [await open(), await open()];
    const app = await newApp(a, '1600000002');
    const model = new Set<string>();
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 120; step++) {
      const [writer, reader] = random(2) === 0 ? [a, b] : [b, a];
      const token = `m${random(20)}`;
      if (random(3) === 0) {
        await writeBatch(writer, app.id, unbind(token));
        model.delete(token);
      } else {
        await writeBatch(writer, app.id, bind(token));
        model.add(token);
      }
      const expected = [...model].sort();
      assert.deepEqual(await tokensOf(writer, app.id), expected, `step ${step}: the writer reads its own write`);
      const position = writer.writePosition(app.id);
      assert.deepEqual(await tokensOf(reader, app.id, position), expected, `step ${step}: the other instance`);
    }
    const served = a.replicaStats()!.reads.replica + b.replicaStats()!.reads.replica;
    assert.ok(served > 0, `the replica served ${served} of the reads`);
  });

  it('a lagging replica (replay paused) is waited for, then skipped; answers stay right', async () => {
    const [a, b] = [await open(), await open()];
    const app = await newApp(a, '1600000003');
    await replica.sql('SELECT pg_wal_replay_pause()');
    try {
      const expected: string[] = [];
      const deadline = Date.now() + 2500;
      for (let i = 0; Date.now() < deadline; i++) {
        await writeBatch(a, app.id, bind(`p${i}`));
        expected.push(`p${i}`);
        assert.deepEqual(await tokensOf(b, app.id, a.writePosition(app.id)), expected.sort());
        assert.deepEqual(await tokensOf(a, app.id), expected.sort());
        await sleep(20);
      }
      const { fallbacks } = b.replicaStats()!;
      assert.ok(fallbacks.waited > 0, 'reads waited for the replica, then the primary served them');
      assert.ok(fallbacks.lagging > 0, 'once behind by more than the limit, the replica was skipped');
    } finally {
      await replica.sql('SELECT pg_wal_replay_resume()');
    }
  });

  it('a replica that has not replayed the schema yet (just after a migration) leaves the read to the primary', async () => {
    const freshUrl = await primary.createDatabase();
    const name = new URL(freshUrl).pathname.slice(1);
    await replicated(name);
    // Paused before the stores migrate: the replica has the database but none of its tables and functions.
    await replica.sql('SELECT pg_wal_replay_pause()');
    try {
      const options = { timeoutMs: 2000, poolSize: 4, readUrls: [replica.url(name)], replicaMaxLagMs: 60_000 };
      const [a, b] = [await PostgresStore.open(freshUrl, options), await PostgresStore.open(freshUrl, options)];
      stores.push(a, b);
      const app = await newApp(a, '1600000009');
      await writeBatch(
        a,
        app.id,
        command([{ op: 1, token: 's1', accounts: [alice, { account: 'bob', accountType: 0 }] }]),
      );
      // b never wrote and is sent no position: its reads go to the replica, which answers "no such function/table".
      assert.deepEqual(await tokensOf(b, app.id), ['s1']);
      const two = await b.tokensOfAccounts(app.id, [alice, { account: 'bob', accountType: 0 }]);
      assert.deepEqual(
        two.map((list) => list.map((t) => t.token)),
        [['s1'], ['s1']],
      );
      const accounts = await b.accountsOfTokens(app.id, ['s1']);
      assert.deepEqual(accounts[0]!.map((x) => x.account).sort(), ['alice', 'bob']);
    } finally {
      await replica.sql('SELECT pg_wal_replay_resume()');
    }
  });

  it('a replica stopped mid-run leaves every read to the primary, and serves again once back', async () => {
    const [a, b] = [await open(), await open()];
    const app = await newApp(a, '1600000004');
    const expected: string[] = [];
    let stopped = false;
    const load = (async () => {
      for (let i = 0; i < 400; i++) {
        await writeBatch(a, app.id, bind(`s${i}`));
        expected.push(`s${i}`);
        expected.sort();
        assert.deepEqual(await tokensOf(b, app.id, a.writePosition(app.id)), expected, `read ${i}`);
        if (stopped && b.replicaStats()!.fallbacks.unavailable > 0 && i > 150) return i;
      }
      return 400;
    })();
    await sleep(300);
    await replica.stop();
    stopped = true;
    const rounds = await load;
    assert.ok(b.replicaStats()!.fallbacks.unavailable > 0, 'reads fell back to the primary');
    assert.ok(rounds > 0);
    await replica.restart();
    const before = b.replicaStats()!.reads.replica;
    for (let i = 0; i < 100 && b.replicaStats()!.reads.replica === before; i++) {
      await tokensOf(b, app.id, a.writePosition(app.id));
      await sleep(50);
    }
    assert.ok(b.replicaStats()!.reads.replica > before, 'the replica serves again by itself');
  });

  it('a promoted replica no longer serves: it follows the primary no more', async () => {
    const [a, b] = [await open(), await open()];
    const app = await newApp(a, '1600000005');
    await writeBatch(a, app.id, bind('before-promotion'));
    await replica.sql('SELECT pg_promote()');
    const expected = ['before-promotion'];
    for (let i = 0; i < 40; i++) {
      await writeBatch(a, app.id, bind(`after${i}`));
      expected.push(`after${i}`);
      expected.sort();
      assert.deepEqual(await tokensOf(b, app.id, a.writePosition(app.id)), expected, `read ${i}`);
      await sleep(10);
    }
    const usable = b.replicaStats()!.replicas[0]!;
    assert.equal(usable.usable, false);
    assert.match(String(usable.problem), /not in recovery/);
  });
});
