/**
 * A rolling upgrade on one PostgreSQL, as a team does it behind a load balancer: two instances of
 * the previous release (its own code from git history, test/support/previous-release.ts) serve 4
 * writers and 2 readers; an instance of this release starts and migrates the schema under them;
 * then each old instance is taken out of the balancer, stopped with SIGTERM, and replaced by one of
 * this release. Every request is answered 200 or a retryable 503, every answered change is there
 * at the end, and a read through any instance sees what was answered through any other before it.
 * The second test puts 1,000,000 bindings under the migration and measures how long the old
 * instance's writes wait while it runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { POSTGRES_SCHEMA_VERSION } from '../../src/store/postgres/postgres-schema.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { previousRelease } from '../support/previous-release.ts';
import { basicHeader, type ServerProcess, startServer, stopServer } from '../support/server-process.ts';
import { type Answer, accountOf, boundTokens, WriteLoad } from '../support/write-load.ts';

const QUERY = '/v3/device/account/query';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const release = previousRelease();

let postgres: TestPostgres;
before(async () => {
  postgres = await TestPostgres.start();
});
after(() => postgres?.destroy());

const ENV = { BINDERY_BOOTSTRAP_APP: 'false', BINDERY_LOG_LEVEL: 'info', BINDERY_STORE_TIMEOUT_MS: '5000' };

/** An instance of the previous release, from its sources. */
const startPrevious = (url: string) => startServer({ ...ENV, BINDERY_DATABASE_URL: url }, { cwd: release.dir });
/** An instance of this release. */
const startCurrent = (url: string) => startServer({ ...ENV, BINDERY_DATABASE_URL: url });

/** An app made by the previous release's own CLI (so the schema is the previous release's). */
function previousApp(url: string): { auth: string; accessId: string } {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'app', 'create', '--name', 'upgrade', '--json'],
    { cwd: release.dir, env: { ...process.env, BINDERY_DATABASE_URL: url }, encoding: 'utf8' },
  );
  assert.equal(result.status, 0, result.stderr);
  const app = JSON.parse(result.stdout) as { access_id: string; secret_key: string };
  return { auth: basicHeader(app.access_id, app.secret_key), accessId: app.access_id };
}

async function schemaVersion(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query('SELECT max(version) AS v FROM schema_migrations')).rows[0].v);
  } finally {
    await client.end();
  }
}

/** The instances behind the balancer: round robin over those in it. */
class Balancer {
  readonly live: ServerProcess[] = [];
  private next = 0;
  pick = (): string => {
    const server = this.live[this.next++ % this.live.length];
    if (!server) throw new Error('no instance in the balancer');
    return server.url;
  };
  /** Another instance than the one at `url`, when there is one. */
  other(url: string): string {
    const others = this.live.filter((s) => s.url !== url);
    return (others[Math.floor(Math.random() * others.length)] ?? this.live[0])?.url ?? url;
  }
  /** Out of the balancer, a moment for what was sent to it to arrive, then SIGTERM; its exit code. */
  async drainAndStop(server: ServerProcess): Promise<number | string> {
    this.live.splice(this.live.indexOf(server), 1);
    await sleep(300);
    return stopServer(server);
  }
}

interface Read {
  url: string;
  wroteThrough: string;
  status: number;
  seen: boolean;
}

/**
 * Readers: each picks a batch answered before its read begins and asks another instance than the
 * one that answered it for its first token's accounts (TPNS query op 2).
 */
function startReaders(load: WriteLoad, balancer: Balancer, auth: string, count: number) {
  const reads: Read[] = [];
  let running = true;
  const loops = Array.from({ length: count }, async () => {
    while (running) {
      const answered = load.ok();
      const batch = answered[Math.floor(Math.random() * answered.length)];
      if (!batch) {
        await sleep(20);
        continue;
      }
      const token = batch.tokens[0] as string;
      const url = balancer.other(batch.url);
      let status = 0;
      let seen = false;
      try {
        const response = await fetch(url + QUERY, {
          method: 'POST',
          headers: { authorization: auth },
          body: JSON.stringify({ operator_type: 2, token_list: [token] }),
          signal: AbortSignal.timeout(15_000),
        });
        status = response.status;
        const body = (await response.json()) as { token_accounts?: { account_list: { account: string }[] }[] };
        seen = body.token_accounts?.[0]?.account_list.some((a) => a.account === accountOf(token)) ?? false;
      } catch {
        status = 0;
      }
      reads.push({ url, wroteThrough: batch.url, status, seen });
    }
  });
  return {
    reads,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

const summary = (answers: Answer[]) => {
  const by = new Map<string, number>();
  for (const a of answers) {
    const key = a.status === 200 ? `200/${a.retCode}` : String(a.status);
    by.set(key, (by.get(key) ?? 0) + 1);
  }
  return [...by].map(([k, n]) => `${k}: ${n}`).join(', ');
};

describe('a rolling upgrade from the previous release, on PostgreSQL', () => {
  it('replaces two instances of the previous release one at a time under 4 writers and 2 readers', async (t) => {
    const url = await postgres.createDatabase();
    const first = await startPrevious(url);
    const balancer = new Balancer();
    const all: ServerProcess[] = [first];
    t.after(() => Promise.all(all.map(stopServer)));
    const { auth } = previousApp(url);
    const previousSchema = await schemaVersion(url);
    const second = await startPrevious(url);
    all.push(second);
    balancer.live.push(first, second);
    const old = new Set([first.url, second.url]);

    const load = new WriteLoad(balancer.pick, auth, 4, 2);
    load.start('r');
    const readers = startReaders(load, balancer, auth, 2);
    t.after(() => Promise.all([load.stop(), readers.stop()]));
    let phase = Date.now();
    const settle = async () => {
      await load.acknowledgedAfter(phase, 60);
      phase = Date.now();
    };
    await settle();

    // A third instance, of this release, starts: it migrates the schema under the two old ones.
    const migratedAt = Date.now();
    const third = await startCurrent(url);
    all.push(third);
    assert.equal(await schemaVersion(url), POSTGRES_SCHEMA_VERSION);
    balancer.live.push(third);
    await settle();

    const exits: (number | string)[] = [];
    for (const previous of [first, second]) {
      exits.push(await balancer.drainAndStop(previous));
      const replacement = await startCurrent(url);
      all.push(replacement);
      balancer.live.push(replacement);
      await settle();
    }
    await load.stop();
    await readers.stop();

    const answers = load.answers;
    t.diagnostic(
      `previous release ${release.version} (schema ${previousSchema}) -> this release (schema ${POSTGRES_SCHEMA_VERSION}): ` +
        `${answers.length} batches (${summary(answers)}), ${readers.reads.length} reads`,
    );
    assert.deepEqual(exits, [0, 0], 'each old instance stopped cleanly on SIGTERM');
    const wrong = answers.filter((a) => !((a.status === 200 && a.retCode === 0) || a.status === 503));
    assert.deepEqual(wrong, [], 'every batch was answered 200 or a retryable 503');
    const afterMigration = load.ok().filter((a) => old.has(a.url) && a.started > migratedAt);
    assert.ok(afterMigration.length > 0, 'the old instances served writes on the migrated schema');

    const acknowledged = load.ok().flatMap((a) => a.tokens);
    const found = await boundTokens(third.url, auth, acknowledged);
    const lost = acknowledged.filter((token) => !found.has(token));
    assert.deepEqual(lost, [], 'every answered change is there');

    const badReads = readers.reads.filter((r) => r.status !== 200 && r.status !== 503);
    assert.deepEqual(badReads, [], 'every read was answered 200 or a retryable 503');
    const unseen = readers.reads.filter((r) => r.status === 200 && !r.seen);
    assert.deepEqual(unseen, [], 'every read saw what another instance had answered before it');
    const crossed = (reader: (u: string) => boolean, writer: (u: string) => boolean) =>
      readers.reads.filter((r) => r.status === 200 && reader(r.url) && writer(r.wroteThrough)).length;
    const isOld = (u: string) => old.has(u);
    const isNew = (u: string) => !old.has(u);
    assert.ok(crossed(isOld, isNew) > 0, "an old instance read a new one's writes");
    assert.ok(crossed(isNew, isOld) > 0, "a new instance read an old one's writes");
    assert.ok(crossed(isNew, isNew) > 0, "a new instance read another new one's writes");
  });

  it("measures how long the previous release's writes wait while this release migrates 1,000,000 bindings", async (t) => {
    const url = await postgres.createDatabase();
    const old = await startPrevious(url);
    t.after(() => stopServer(old));
    const { auth } = previousApp(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`INSERT INTO bindings (app_id, token, account, account_type, bound_at)
      SELECT 1, 'seed-' || g, 'seed-account-' || g, 0, g FROM generate_series(1, 1000000) g`);
    await client.query('ANALYZE bindings');
    await client.end();

    const load = new WriteLoad(old.url, auth, 4, 2);
    load.start('m');
    t.after(() => load.stop());
    await load.acknowledgedAfter(0, 200);
    const began = Date.now();
    const current = await startCurrent(url);
    const ended = Date.now();
    t.after(() => stopServer(current));
    await sleep(1000);
    await load.stop();
    assert.equal(await schemaVersion(url), POSTGRES_SCHEMA_VERSION);

    const waits = (list: Answer[]) => list.map((a) => a.ended - a.started).sort((a, b) => a - b);
    const quantile = (list: number[], q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))] ?? 0;
    const beforeIt = waits(load.answers.filter((a) => a.ended < began));
    const during = waits(load.answers.filter((a) => a.ended >= began && a.started <= ended));
    const migration = /migrated the schema from version (\d+) to (\d+)/.exec(current.output());
    assert.ok(migration, `this release migrated the schema:\n${current.output()}`);
    t.diagnostic(
      `1,000,000 bindings; this release started (migrating ${migration[1]} -> ${migration[2]}) in ${ended - began} ms; ` +
        `the previous release's writes before: p50 ${quantile(beforeIt, 0.5)} ms, p99 ${quantile(beforeIt, 0.99)} ms, ` +
        `max ${beforeIt.at(-1)} ms (${beforeIt.length}); during: p50 ${quantile(during, 0.5)} ms, ` +
        `p99 ${quantile(during, 0.99)} ms, max ${during.at(-1)} ms (${during.length})`,
    );
    assert.ok(during.length > 0, 'writes were answered while the migration ran');
    const wrong = load.answers.filter((a) => !(a.status === 200 && a.retCode === 0));
    assert.deepEqual(wrong, [], 'every write was answered 200 throughout');
    const acknowledged = load.ok().flatMap((a) => a.tokens);
    const found = await boundTokens(current.url, auth, acknowledged);
    assert.equal(found.size, acknowledged.length, 'every answered change is there');
  });
});
