/**
 * Automatic failover on real engines: two bindery processes through HAProxy to a two-node Patroni
 * cluster (Debian's PostgreSQL 15, etcd, synchronous replication), under writes and reads, through
 * a planned switchover and then a kill -9 of the leader (its Patroni and its postgres). No bindery
 * process may exit; every answer is 200/0 or, within the store timeout, 503/1008004; both
 * instances serve again within 30 s without a restart; no acknowledged binding is lost; /readyz
 * follows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_POLICY } from '../../src/model/types.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { PatroniCluster } from '../support/patroni-cluster.ts';
import { basicHeader, type ServerProcess, startServer, stopServer } from '../support/server-process.ts';

const TIMEOUT_MS = 2000;
const SECRET = 'f'.repeat(32);
const ACCESS_ID = '1800000001';

interface Answer {
  instance: number;
  kind: 'write' | 'read';
  at: number;
  ms: number;
  status: number;
  retCode: number | null;
}

describe('failover under load (Patroni, etcd, HAProxy)', () => {
  let cluster: PatroniCluster;
  const servers: ServerProcess[] = [];

  before(async () => {
    cluster = await PatroniCluster.start();
  });
  after(async () => {
    for (const server of servers) await stopServer(server);
    await cluster?.destroy();
  });

  it('survives a switchover and a kill -9 of the leader: honest answers, nothing lost', async (t) => {
    const url = await cluster.createDatabase('bindery');
    const admin = await PostgresStore.open(url, { timeoutMs: 10_000, poolSize: 2 });
    // The cap (10,000, the most an app may set) is above what one account is bound here: nothing is evicted.
    const policy = { ...DEFAULT_POLICY, maxTokensPerAccount: 10_000 };
    await admin.createApp({ accessId: ACCESS_ID, name: 'ha', secretKey: SECRET, policy });
    await admin.close();
    const env = {
      BINDERY_DATABASE_URL: url,
      BINDERY_STORE_TIMEOUT_MS: String(TIMEOUT_MS),
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'warn',
    };
    servers.push(await startServer(env), await startServer(env));
    const headers = { authorization: basicHeader(ACCESS_ID, SECRET), 'content-type': 'application/json' };
    const answers: Answer[] = [];
    const acknowledged = new Set<string>();
    const ready: { instance: number; at: number; status: number }[] = [];
    let running = true;
    // However the test ends, the load stops: a failed step must not leave its loops holding the process.
    t.after(() => {
      running = false;
    });

    async function send(instance: number, kind: Answer['kind'], path: string, body: unknown): Promise<boolean> {
      const started = Date.now();
      let status = 0;
      let retCode: number | null = null;
      try {
        const response = await fetch(`${servers[instance]!.url}${path}`, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        status = response.status;
        retCode = ((await response.json()) as { ret_code: number }).ret_code;
      } catch {
        status = -1;
      }
      answers.push({ instance, kind, at: started, ms: Date.now() - started, status, retCode });
      return status === 200 && retCode === 0;
    }

    const writer = async (instance: number, lane: number) => {
      for (let i = 0; running; i++) {
        const token = `w${instance}-${lane}-${i}`;
        const bind = {
          operator_type: 1,
          token_accounts: [{ token, account_list: [{ account: `u${instance}-${lane}` }] }],
        };
        if (await send(instance, 'write', '/v3/device/account/batchoperate', bind)) acknowledged.add(token);
        else await sleep(50);
      }
    };
    const reader = async (instance: number) => {
      while (running) {
        const query = { operator_type: 1, account_list: [{ account: `u${instance}-0` }] };
        if (!(await send(instance, 'read', '/v3/device/account/query', query))) await sleep(50);
      }
    };
    const readiness = async (instance: number) => {
      while (running) {
        const response = await fetch(`${servers[instance]!.url}/readyz`).catch(() => undefined);
        ready.push({ instance, at: Date.now(), status: response?.status ?? -1 });
        await sleep(200);
      }
    };
    /** Resolves with the time of the first successful write of each instance after `since`. */
    const servedAgain = async (since: number, within: number) => {
      const deadline = since + within;
      const firstOk = (instance: number) =>
        answers.find((a) => a.instance === instance && a.kind === 'write' && a.at > since && a.status === 200);
      while ((!firstOk(0) || !firstOk(1)) && Date.now() < deadline) await sleep(100);
      return [firstOk(0)?.at, firstOk(1)?.at];
    };

    const load = Promise.all([
      writer(0, 0),
      writer(0, 1),
      writer(1, 0),
      writer(1, 1),
      reader(0),
      reader(1),
      readiness(0),
      readiness(1),
    ]);
    // The first sync of a new standby can take a while on a busy box (the whole suite beside it).
    await cluster.waitSyncStandby(150_000);
    await sleep(2000);

    const switchedAt = Date.now();
    const { from, to } = await cluster.switchover();
    const switchDone = Date.now();
    t.diagnostic(`switchover ${from} -> ${to} took ${(switchDone - switchedAt) / 1000} s`);
    const afterSwitch = await servedAgain(switchDone, 30_000);
    await cluster.waitSyncStandby(60_000);
    await sleep(1000);

    const leader = await cluster.leader();
    assert.ok(leader, 'a leader before the crash');
    const killedAt = Date.now();
    await cluster.kill9(leader);
    const afterKill = await servedAgain(killedAt, 30_000);
    await sleep(1500);
    running = false;
    await load;

    for (const server of servers) assert.equal(server.child.exitCode, null, 'no bindery process exited');
    const dishonest = answers.filter(
      (a) => !((a.status === 200 && a.retCode === 0) || (a.status === 503 && a.retCode === 1008004)),
    );
    assert.deepEqual(dishonest, [], 'every answer is 200/0 or 503/1008004');
    const slow = answers.filter((a) => a.status === 503 && a.ms > TIMEOUT_MS + 1000);
    assert.deepEqual(slow, [], `every refusal within the store timeout (${TIMEOUT_MS} ms) and a second`);
    for (const [phase, recovered, since] of [
      ['switchover', afterSwitch, switchDone],
      ['kill -9', afterKill, killedAt],
    ] as const) {
      for (const instance of [0, 1]) {
        assert.ok(recovered[instance] !== undefined, `instance ${instance} wrote again within 30 s of the ${phase}`);
        t.diagnostic(`${phase}: instance ${instance} wrote again after ${(recovered[instance]! - since) / 1000} s`);
      }
    }
    const refused = (from: number, to: number) =>
      answers.filter((a) => a.status === 503 && a.at >= from && a.at < to).length;
    t.diagnostic(`switchover ${from} -> ${to}: ${refused(switchedAt, killedAt)} requests refused`);
    t.diagnostic(`kill -9 of ${leader.name}: ${refused(killedAt, Date.now())} requests refused`);
    t.diagnostic(`${answers.length} answers, ${acknowledged.size} acknowledged bindings`);

    const outage = ready.filter((r) => r.at > killedAt && r.at < (afterKill[r.instance] ?? killedAt));
    assert.ok(
      outage.some((r) => r.status === 503),
      '/readyz answered 503 while the database was away',
    );
    for (const instance of [0, 1]) {
      assert.equal(ready.filter((r) => r.instance === instance).at(-1)?.status, 200, `/readyz of ${instance} is back`);
    }

    const check = await PostgresStore.open(url, { timeoutMs: 10_000, poolSize: 2 });
    try {
      const app = (await check.listApps())[0]!;
      const stored = new Set<string>();
      for await (const page of check.exportBindings(app.id, 5000)) for (const b of page) stored.add(b.token);
      const lost = [...acknowledged].filter((token) => !stored.has(token));
      assert.deepEqual(lost, [], `all ${acknowledged.size} acknowledged bindings survived`);
    } finally {
      await check.close();
    }
  });
});
