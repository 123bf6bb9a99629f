/**
 * Heavy exports against a real bindery process: an export during writes is one snapshot (on both
 * stores), exports at once are bounded per instance, a client that stops reading is cut off, and
 * what the server reads ahead of such a client is bounded by the socket's backpressure.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import pg from 'pg';
import { AppService } from '../../src/domain/app-service.ts';
import type { BindingStore } from '../../src/model/store.ts';
import { asBound, type Binding } from '../../src/model/types.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { basicHeader, type ServerProcess, startServer, stopServer } from '../support/server-process.ts';

const BATCH = '/v3/device/account/batchoperate';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let postgres: TestPostgres;
before(async () => {
  postgres = await TestPostgres.start();
});
after(() => postgres?.destroy());

/** An app of `accounts` accounts, u0..u(n-1), each bound to one token; `maxTokensPerAccount: 1` keeps it so. */
async function seed(store: BindingStore, accounts: number): Promise<{ auth: string }> {
  const app = await new AppService(store, 0).create({ name: 'exports', policy: { maxTokensPerAccount: 1 } });
  for (let from = 0; from < accounts; from += 50_000) {
    const page: Binding[] = [];
    for (let i = from; i < Math.min(accounts, from + 50_000); i++)
      page.push(asBound({ token: `t${i}`, account: `u${i}`, accountType: 0, platform: null, boundAt: 1_000_000 + i }));
    await store.importBindings(app.id, page);
  }
  return { auth: basicHeader(app.accessId, app.secretKey) };
}

async function exportLines(
  server: ServerProcess,
  auth: string,
): Promise<{ status: number; lines: { token: string; account: string }[]; retryAfter: string | null; body: string }> {
  const response = await fetch(`${server.url}/api/v1/export`, { headers: { authorization: auth } });
  const body = await response.text();
  const lines =
    response.status === 200
      ? body
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as { token: string; account: string })
      : [];
  return { status: response.status, lines, retryAfter: response.headers.get('retry-after'), body };
}

/** `count` clients that ask `server` for an export and then read nothing (closed after the test). */
async function stalledExports(t: TestContext, server: ServerProcess, auth: string, count: number): Promise<void> {
  const { port } = new URL(server.url);
  const stalled: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect(Number(port), '127.0.0.1');
    socket.write(`GET /api/v1/export HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n\r\n`);
    socket.pause();
    socket.on('error', () => undefined);
    stalled.push(socket);
  }
  t.after(() => {
    for (const s of stalled) s.destroy();
  });
  await sleep(150);
}

/** Writers that keep moving accounts to new random tokens (each bind evicts the account's only other binding). */
function moveAccounts(server: ServerProcess, auth: string, accounts: number): { stop: () => Promise<number[]> } {
  let running = true;
  const acknowledgedAt: number[] = [];
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      const token_accounts = Array.from({ length: 5 }, () => ({
        token: randomBytes(8).toString('hex'),
        account_list: [{ account: `u${Math.floor(Math.random() * accounts)}` }],
      }));
      const response = await fetch(server.url + BATCH, {
        method: 'POST',
        headers: { authorization: auth },
        body: JSON.stringify({ operator_type: 1, token_accounts }),
      });
      const { ret_code } = (await response.json()) as { ret_code: number };
      assert.equal(ret_code, 0);
      acknowledgedAt.push(Date.now());
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return acknowledgedAt;
    },
  };
}

const stores: { name: string; open: (t: TestContext) => Promise<{ store: BindingStore; url: string }> }[] = [
  {
    name: 'SQLite',
    open: async (t) => {
      const file = join(tempDir(t), 'bindery.db');
      return { store: await SqliteStore.open(file), url: `sqlite:${file}` };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const url = await postgres.createDatabase();
      return { store: await PostgresStore.open(url, { timeoutMs: 5000, poolSize: 2 }), url };
    },
  },
];

describe('exports under load', () => {
  for (const { name, open } of stores) {
    it(`${name}: an export during writes is one snapshot: every account, always bound once, appears exactly once`, async (t) => {
      const ACCOUNTS = 30_000;
      const { store, url } = await open(t);
      const { auth } = await seed(store, ACCOUNTS);
      await store.close();
      const server = await startServer({
        BINDERY_DATABASE_URL: url,
        BINDERY_BOOTSTRAP_APP: 'false',
        BINDERY_LOG_LEVEL: 'warn',
      });
      t.after(() => stopServer(server));

      const writers = moveAccounts(server, auth, ACCOUNTS);
      const exports: { started: number; ended: number; lines: { account: string }[] }[] = [];
      try {
        await sleep(200);
        for (let i = 0; i < 3; i++) {
          const started = Date.now();
          const { status, lines, body } = await exportLines(server, auth);
          assert.equal(status, 200, body);
          exports.push({ started, ended: Date.now(), lines });
        }
      } finally {
        const acknowledgedAt = await writers.stop();
        const during = exports.map((e) => acknowledgedAt.filter((at) => at > e.started && at < e.ended).length);
        t.diagnostic(`3 exports of ${ACCOUNTS} bindings, ${during.join(', ')} batches acknowledged during each`);
        assert.ok(
          during.every((n) => n > 0),
          'writes went on during every export',
        );
      }
      for (const { lines } of exports) {
        const counts = new Map<string, number>();
        for (const { account } of lines) counts.set(account, (counts.get(account) ?? 0) + 1);
        const wrong = Array.from({ length: ACCOUNTS }, (_, i) => `u${i}`).filter(
          (account) => counts.get(account) !== 1,
        );
        assert.deepEqual(
          wrong.slice(0, 5).map((account) => [account, counts.get(account) ?? 0]),
          [],
          `${wrong.length} accounts did not appear exactly once`,
        );
        assert.equal(lines.length, ACCOUNTS);
      }
    });
  }

  it('exports at once are bounded (1008028/429 with Retry-After), a client that stops reading is cut off, and it is not read ahead of', async (t) => {
    const BINDINGS = 400_000;
    const file = join(tempDir(t), 'bindery.db');
    const store = await SqliteStore.open(file);
    const { auth } = await seed(store, BINDINGS);
    await store.close();
    const idleMs = 500;
    const server = await startServer({
      BINDERY_DATABASE_URL: `sqlite:${file}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'warn',
      BINDERY_EXPORT_CONCURRENCY: '2',
      BINDERY_EXPORT_IDLE_MS: String(idleMs),
    });
    t.after(() => stopServer(server));

    // Two clients that send the request and then read nothing.
    await stalledExports(t, server, auth, 2);

    const third = await exportLines(server, auth);
    assert.equal(third.status, 429, 'a third export beyond the bound of 2');
    assert.equal((JSON.parse(third.body) as { ret_code: number }).ret_code, 1008028);
    assert.equal(third.retryAfter, '5');

    // Both stalled exports are cut off once idle, having sent only what the socket took.
    let cuts: { sent: number }[] = [];
    for (let waited = 0; cuts.length < 2 && waited < 15_000; waited += 100) {
      await sleep(100);
      cuts = server
        .output()
        .split('\n')
        .filter((line) => line.includes('export cut off'))
        .map((line) => JSON.parse(line) as { sent: number });
    }
    assert.equal(cuts.length, 2, `both stalled exports were cut off:\n${server.output()}`);
    for (const { sent } of cuts)
      assert.ok(sent < BINDINGS / 2, `a stalled export read ${sent} of ${BINDINGS} bindings ahead of its client`);
    t.diagnostic(
      `stalled exports cut off after ${cuts.map((c) => c.sent).join(' and ')} bindings read (of ${BINDINGS})`,
    );

    // Their slots are free again: a reading client gets everything.
    const full = await exportLines(server, auth);
    assert.equal(full.status, 200, full.body.slice(0, 200));
    assert.equal(full.lines.length, BINDINGS);
    assert.equal(server.child.exitCode, null);
  });
});

describe('fair shares of the export slots', () => {
  it('one app holds at most BINDERY_EXPORT_PER_APP slots, and an export past BINDERY_EXPORT_MAX_MS ends saying so', async (t) => {
    const file = join(tempDir(t), 'bindery.db');
    const store = await SqliteStore.open(file);
    const hog = await seed(store, 50_000);
    const trickler = await seed(store, 200_000);
    const other = await seed(store, 1000);
    await store.close();
    const maxMs = 3000;
    const server = await startServer({
      BINDERY_DATABASE_URL: `sqlite:${file}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'warn',
      BINDERY_EXPORT_CONCURRENCY: '4',
      BINDERY_EXPORT_PER_APP: '2',
      BINDERY_EXPORT_IDLE_MS: '5000',
      BINDERY_EXPORT_MAX_MS: String(maxMs),
    });
    t.after(() => stopServer(server));

    // One tenant takes two slots with exports it does not read.
    await stalledExports(t, server, hog.auth, 2);
    const third = await exportLines(server, hog.auth);
    assert.equal(third.status, 429, 'a third export of the same app');
    assert.match(third.body, /too many exports for this app: 2 are streaming/);
    const meanwhile = await exportLines(server, other.auth);
    assert.equal(meanwhile.status, 200, 'another app exports meanwhile');
    assert.equal(meanwhile.lines.length, 1000);

    // A client that reads a little every 200 ms is never idle; the export ends at BINDERY_EXPORT_MAX_MS.
    const started = Date.now();
    const response = await fetch(`${server.url}/api/v1/export`, { headers: { authorization: trickler.auth } });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      await sleep(200);
    }
    const lines = text.split('\n').filter((l) => l !== '');
    const last = JSON.parse(lines.at(-1)!) as { ret_code?: number; err_msg?: string; token?: string };
    t.diagnostic(`the trickling export ended after ${Date.now() - started} ms with ${lines.length - 1} bindings`);
    assert.equal(last.ret_code, 1008028, `the last line says why: ${lines.at(-1)}`);
    assert.match(String(last.err_msg), /BINDERY_EXPORT_MAX_MS/);
    assert.ok(lines.length - 1 < 200_000, 'it was ended before the end');
    assert.ok(
      lines.slice(0, -1).every((l) => 'token' in (JSON.parse(l) as object)),
      'every line before it is a binding',
    );
    // Its slot is free again.
    const again = await fetch(`${server.url}/api/v1/export`, { headers: { authorization: trickler.auth } });
    assert.equal(again.status, 200);
    await again.body?.cancel();
    assert.equal(server.child.exitCode, null);
  });
});

describe('an export the store fails midway', () => {
  it('PostgreSQL: its connection killed under writes, the answer ends with a 1008004 line, and the next export is whole', async (t) => {
    const ACCOUNTS = 150_000;
    const url = await postgres.createDatabase();
    const store = await PostgresStore.open(url, { timeoutMs: 5000, poolSize: 2 });
    const { auth } = await seed(store, ACCOUNTS);
    await store.close();
    const server = await startServer({
      BINDERY_DATABASE_URL: url,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'fatal',
    });
    t.after(() => stopServer(server));

    const bad = await fetch(`${server.url}/api/v1/export?from_token=`, { headers: { authorization: auth } });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (({ ret_code, err_msg }) => ({ ret_code, err_msg }))((await bad.json()) as { ret_code: number; err_msg: string }),
      { ret_code: 1008006, err_msg: 'from_token: empty' },
    );

    const writers = moveAccounts(server, auth, ACCOUNTS);
    const response = await fetch(`${server.url}/api/v1/export`, { headers: { authorization: auth } });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    // The client reads no more for now: the export waits between two pages, its transaction open.
    await sleep(300);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%ORDER BY token, account, account_type%'`);
    await admin.end();
    assert.deepEqual(rows, [{ done: true }], "the export's own connection");
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const lines = text.split('\n').filter((l) => l !== '');
    const last = JSON.parse(lines.at(-1)!) as { ret_code?: number; err_msg?: string };
    assert.equal(last.ret_code, 1008004, `the last line says it broke off: ${lines.at(-1)}`);
    assert.match(String(last.err_msg), /^export broke off with \d+ bindings sent: the store became unavailable/);
    assert.ok(lines.length - 1 < ACCOUNTS, 'before the end');
    assert.ok(
      lines.slice(0, -1).every((l) => 'token' in (JSON.parse(l) as object)),
      'every line before it is a binding',
    );

    const acknowledged = await writers.stop();
    assert.ok(acknowledged.length > 0, 'writes were answered meanwhile');
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200, 'the server serves on');
    const whole = await exportLines(server, auth);
    assert.equal(whole.status, 200);
    assert.equal(whole.lines.length, ACCOUNTS, 'every account, bound once');
    assert.equal(new Set(whole.lines.map((l) => l.account)).size, ACCOUNTS);
  });
});
