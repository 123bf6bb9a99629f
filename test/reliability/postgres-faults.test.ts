/**
 * A database's bad day, under write load, against a real bindery process and a real PostgreSQL:
 * `pg_ctl stop -m fast`, kill -9 of the postmaster, pg_terminate_backend of bindery's connections,
 * a frozen database (SIGSTOP), and a database that is away when bindery starts. Each time the same
 * process must stay up, answer only 200/ok or 503/1008004 (within the store timeout when the
 * database is frozen), serve again by itself, and have every acknowledged change.
 * `npm run soak` repeats each fault 10 times on one process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { AppService } from '../../src/domain/app-service.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import {
  basicHeader,
  type ServerProcess,
  serverOnNewDatabase as serverOnDatabase,
  startServer,
  stopServer,
} from '../support/server-process.ts';
import { type Answer, boundTokens, WriteLoad } from '../support/write-load.ts';

const SOAK = process.env.BINDERY_SOAK === '1';
const REPEATS = SOAK ? 10 : 1;
const TIMEOUT_MS = 1000;
/** What a loaded 2-core box may add to the store timeout: HTTP, scheduling, the timer's own lateness. */
const SLACK_MS = 400;

let postgres: TestPostgres;
before(async () => {
  postgres = await TestPostgres.start();
});
after(() => postgres?.destroy());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const serverOnNewDatabase = (t: TestContext) => serverOnDatabase(t, postgres, TIMEOUT_MS);

/** Every answer was honest: applied (200, 0) or refused as unavailable (503, 1008004); none was lost in silence. */
function assertHonest(answers: Answer[]): void {
  const other = answers.filter(
    (a) => !(a.status === 200 && a.retCode === 0) && !(a.status === 503 && a.retCode === 1008004),
  );
  assert.deepEqual(other.slice(0, 5), [], `${other.length} answers were neither 200/0 nor 503/1008004`);
}

async function assertAcknowledgedPresent(server: ServerProcess, auth: string, load: WriteLoad): Promise<number> {
  const acknowledged = load.ok().flatMap((a) => a.tokens);
  const found = await boundTokens(server.url, auth, acknowledged);
  const lost = acknowledged.filter((token) => !found.has(token));
  assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of ${acknowledged.length} acknowledged bindings are missing`);
  return acknowledged.length;
}

const faults: { name: string; inject: (database: string) => Promise<void>; outage: boolean }[] = [
  {
    name: 'pg_ctl stop -m fast, then start',
    outage: true,
    inject: async () => {
      await postgres.pgCtlStopFast();
      await sleep(800);
      await postgres.restart();
    },
  },
  {
    name: 'kill -9 of the postmaster, then start',
    outage: true,
    inject: async () => {
      await postgres.kill9();
      await sleep(300);
      await postgres.restart();
    },
  },
  {
    name: "pg_terminate_backend of bindery's connections",
    outage: false,
    inject: async (database) => {
      for (let i = 0; i < 3; i++) {
        assert.ok((await postgres.terminateConnections(database)) > 0, 'bindery had connections to end');
        await sleep(150);
      }
    },
  },
];

describe('PostgreSQL faults under write load', () => {
  for (const fault of faults) {
    it(`${fault.name}: the process stays up, answers honestly, recovers, loses nothing (${REPEATS}x)`, async (t) => {
      const { server, auth, database } = await serverOnNewDatabase(t);
      const load = new WriteLoad(server.url, auth, 4);
      load.start();
      try {
        await load.acknowledgedAfter(0, 20);
        for (let round = 1; round <= REPEATS; round++) {
          const before = load.answers.length;
          await fault.inject(database);
          const recovered = Date.now();
          await load.acknowledgedAfter(recovered, 20);
          assert.equal(
            server.child.exitCode,
            null,
            `round ${round}: the bindery process exited:\n${server.output().slice(-3000)}`,
          );
          const refused = load.answers.slice(before).filter((a) => a.status === 503).length;
          if (fault.outage)
            assert.ok(refused > 0, `round ${round}: the outage refused no request (did the fault happen?)`);
          t.diagnostic(`round ${round}: ${refused} requests refused with 503 during the fault`);
        }
      } finally {
        await load.stop();
      }
      assertHonest(load.answers);
      const count = await assertAcknowledgedPresent(server, auth, load);
      assert.equal(server.child.exitCode, null, 'the same process still serves');
      t.diagnostic(`${load.answers.length} answers, ${count} acknowledged bindings all present, 0 process exits`);
    });
  }

  it(`a frozen database (SIGSTOP) costs each request at most the store timeout, and nothing refused is applied (${REPEATS}x)`, async (t) => {
    const { server, auth } = await serverOnNewDatabase(t);
    const load = new WriteLoad(server.url, auth, 4);
    load.start();
    const freezes: { frozenAt: number; thawedAt: number }[] = [];
    try {
      await load.acknowledgedAfter(0, 20);
      for (let round = 1; round <= REPEATS; round++) {
        const frozenAt = Date.now();
        postgres.signalAll('SIGSTOP');
        try {
          await sleep(3 * TIMEOUT_MS + 500);
        } finally {
          postgres.signalAll('SIGCONT');
        }
        const thawedAt = Date.now();
        freezes.push({ frozenAt, thawedAt });
        await load.acknowledgedAfter(thawedAt, 20);
      }
    } finally {
      await load.stop();
    }
    assertHonest(load.answers);
    const slowest: number[] = [];
    const refused: string[] = [];
    for (const [i, { frozenAt, thawedAt }] of freezes.entries()) {
      // Sent while the database was frozen (after the last SIGSTOP landed) and answered before it woke.
      const during = load.answers.filter((a) => a.started >= frozenAt + 100 && a.ended <= thawedAt);
      assert.ok(
        during.length >= 4,
        `freeze ${i + 1}: only ${during.length} requests were sent and answered during the freeze`,
      );
      slowest.push(Math.max(...during.map((a) => a.ended - a.started)));
      assert.ok(
        slowest.at(-1)! <= TIMEOUT_MS + SLACK_MS,
        `freeze ${i + 1}: a request took ${slowest.at(-1)} ms with BINDERY_STORE_TIMEOUT_MS=${TIMEOUT_MS}`,
      );
      assert.ok(
        during.every((a) => a.status === 503),
        `freeze ${i + 1}: nothing could be applied while the database was frozen`,
      );
      refused.push(...during.flatMap((a) => a.tokens));
    }
    await assertAcknowledgedPresent(server, auth, load);
    // Refused before anything reached the database: none of it may appear afterwards.
    const applied = await boundTokens(server.url, auth, refused);
    assert.deepEqual([...applied], [], 'a request answered 503 was applied');
    assert.equal(server.child.exitCode, null);
    t.diagnostic(
      `${freezes.length} freezes of ~${3 * TIMEOUT_MS + 500} ms, ${refused.length / 2} requests during them, slowest ` +
        `answer ${Math.max(...slowest)} ms (timeout ${TIMEOUT_MS} ms)`,
    );
  });

  it('starts while PostgreSQL is away: listens, answers 503, and serves once the database is back', async (t) => {
    const url = await postgres.createDatabase();
    const store = await PostgresStore.open(url, { timeoutMs: 5000, poolSize: 2 });
    const app = await new AppService(store, 0).create({ name: 'late' });
    await store.close();
    const auth = basicHeader(app.accessId, app.secretKey);
    await postgres.pgCtlStopFast();
    let server: ServerProcess;
    try {
      server = await startServer({
        BINDERY_DATABASE_URL: url,
        BINDERY_BOOTSTRAP_APP: 'false',
        BINDERY_LOG_LEVEL: 'info',
        BINDERY_STORE_TIMEOUT_MS: String(TIMEOUT_MS),
      });
    } catch (error) {
      await postgres.restart();
      throw error;
    }
    t.after(() => stopServer(server));
    const batch = (token: string) =>
      fetch(`${server.url}/v3/device/account/batchoperate`, {
        method: 'POST',
        headers: { authorization: auth },
        body: JSON.stringify({ operator_type: 1, token_accounts: [{ token, account_list: [{ account: 'alice' }] }] }),
      });
    try {
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 503);
      const started = Date.now();
      const refused = await batch('while-away');
      assert.deepEqual([refused.status, ((await refused.json()) as { ret_code: number }).ret_code], [503, 1008004]);
      assert.ok(Date.now() - started <= TIMEOUT_MS + SLACK_MS, `answered in ${Date.now() - started} ms`);
      await sleep(1500); // a few retries in the background: still one log line for the outage
    } finally {
      await postgres.restart();
    }
    const deadline = Date.now() + 30_000;
    while ((await fetch(`${server.url}/readyz`)).status !== 200) {
      assert.ok(
        Date.now() < deadline,
        `/readyz not ready 30 s after PostgreSQL came back:\n${server.output().slice(-2000)}`,
      );
      await sleep(200);
    }
    const accepted = await batch('after');
    assert.equal(((await accepted.json()) as { ret_code: number }).ret_code, 0);
    const log = server.output();
    assert.equal(log.match(/PostgreSQL is not reachable/g)?.length, 1, 'one line when it was found away');
    assert.equal(log.match(/PostgreSQL is reachable and migrated/g)?.length, 1, 'one line when it came back');
    assert.equal(server.child.exitCode, null);
  });
});
