/** The real process over a real socket: CLI-made app, bootstrap, graceful shutdown, and kill -9. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/helpers.ts';
import { basicHeader, cli, startServer, stopServer } from './support/server-process.ts';

const BATCH = '/v3/device/account/batchoperate';
const QUERY = '/v3/device/account/query';
const BIND_ALICE = { operator_type: 1, token_accounts: [{ token: 'x', account_list: [{ account: 'alice' }] }] };

async function call(url: string, path: string, auth: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url + path, {
    method: 'POST',
    headers: { authorization: auth },
    body: JSON.stringify(body),
  });
  return (await response.json()) as Record<string, unknown>;
}

describe('server process', () => {
  it('serves a CLI-created app over a socket, with its imported TPNS credentials', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`, BINDERY_BOOTSTRAP_APP: 'false' };
    const created = cli(
      [
        'app',
        'create',
        '--name',
        'legacy',
        '--access-id',
        '1500001048',
        '--secret-key',
        '1452fcebae9f3115ba794fb0fff2fd73',
        '--json',
      ],
      env,
    );
    assert.equal(created.status, 0, created.stderr);
    const app = JSON.parse(created.stdout) as Record<string, string>;
    assert.equal(app.access_id, '1500001048');
    const server = await startServer(env);
    t.after(() => stopServer(server));
    assert.doesNotMatch(server.output(), /created the first app/, 'no bootstrap app when turned off');
    const auth = basicHeader('1500001048', '1452fcebae9f3115ba794fb0fff2fd73');
    const bound = await call(server.url, BATCH, auth, {
      operator_type: 1,
      token_accounts: [{ token: 'tok', account_list: [{ account: 'alice' }] }],
    });
    assert.deepEqual(bound.result, ['0']);
    const found = await call(server.url, QUERY, auth, { operator_type: 1, account_list: [{ account: 'alice' }] });
    assert.deepEqual(found.account_tokens, [{ account: 'alice', account_type: 0, token_list: ['tok'] }]);
    assert.doesNotMatch(server.output(), /1452fcebae9f3115ba794fb0fff2fd73/, 'the secret is never logged');
  });

  it('runs built, as npm start runs it: TPNS over SQLite (writer thread included), the console, the API docs and its version', async (t) => {
    const dir = tempDir(t);
    const server = await startServer({ BINDERY_DATABASE_URL: `sqlite:${join(dir, 'b.db')}` }, { built: true });
    t.after(() => stopServer(server));
    const credentials = /-u (\d+):([0-9a-f]{32}) /.exec(readFileSync(join(dir, 'first-app-credentials.txt'), 'utf8'));
    assert.ok(credentials, server.output());
    const auth = basicHeader(credentials[1]!, credentials[2]!);
    assert.deepEqual(
      (
        await call(server.url, BATCH, auth, {
          operator_type: 1,
          token_accounts: [{ token: 'tok', account_list: [{ account: 'alice' }] }],
        })
      ).result,
      ['0'],
    );
    const found = await call(server.url, QUERY, auth, { operator_type: 1, account_list: [{ account: 'alice' }] });
    assert.deepEqual(found.account_tokens, [{ account: 'alice', account_type: 0, token_list: ['tok'] }]);
    const consolePage = await fetch(`${server.url}/console/`);
    assert.equal(consolePage.status, 200);
    assert.match(await consolePage.text(), /<html/);
    assert.equal((await fetch(`${server.url}/docs/`)).status, 200);
    const spec = (await (await fetch(`${server.url}/openapi.json`)).json()) as { info: { version: string } };
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.equal(spec.info.version, version);
  });

  it('SIGTERM to `npm start` stops the server gracefully (npm start execs node, no shell in between)', async (t) => {
    const child = spawn('npm', ['start', '--silent'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: {
        ...process.env,
        BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`,
        BINDERY_PORT: '0',
        BINDERY_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.after(() => child.kill('SIGKILL'));
    const deadline = Date.now() + 60_000;
    let url: string | undefined;
    while (!(url = /listening on (http:\/\/[\d.]+:\d+)/.exec(output)?.[1])) {
      assert.ok(Date.now() < deadline, `npm start did not listen:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    assert.match(output, /shut down cleanly/);
    await assert.rejects(fetch(`${url}/healthz`), 'the server is gone with npm');
  });

  it("keeps the first app's credentials out of a log: a 0600 file in a 0700 data directory, whatever the umask", async (t) => {
    const dir = join(tempDir(t), 'data');
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(dir, 'b.db')}` };
    const first = await startServer(env, { umask: '000' });
    const file = join(dir, 'first-app-credentials.txt');
    assert.match(first.output(), new RegExp(`its AccessID and SecretKey are in ${file}`));
    const match = /AccessID:\s+(\d+)\nSecretKey: ([0-9a-f]{32})/.exec(readFileSync(file, 'utf8'));
    assert.ok(match, readFileSync(file, 'utf8'));
    assert.doesNotMatch(first.output(), new RegExp(match[2]!), 'stdout is not a terminal: the SecretKey stays off it');
    const auth = basicHeader(match[1]!, match[2]!);
    assert.equal((await call(first.url, BATCH, auth, BIND_ALICE)).ret_code, 0, 'a write, so the WAL exists');
    const modes = Object.fromEntries(
      [dir, file, join(dir, 'b.db'), join(dir, 'b.db-wal'), join(dir, 'b.db-shm'), join(dir, 'spool')].map((p) => [
        p.slice(dir.length) || '/',
        (statSync(p).mode & 0o777).toString(8),
      ]),
    );
    assert.deepEqual(modes, {
      '/': '700',
      '/first-app-credentials.txt': '600',
      '/b.db': '600',
      '/b.db-wal': '600',
      '/b.db-shm': '600',
      '/spool': '700',
    });
    assert.match(
      first.output(),
      new RegExp(`admin console at ${first.url}/console/: off until BINDERY_ADMIN_TOKEN is given`),
    );
    assert.equal(await stopServer(first), 0);
    const second = await startServer(env);
    t.after(() => stopServer(second));
    assert.doesNotMatch(second.output(), /created the first app/, 'only on the first start');
    assert.equal((await call(second.url, QUERY, auth, { operator_type: 2, token_list: ['x'] })).ret_code, 0);
  });

  it('a port in use: says so and what to do, without a stack trace (npm start and bindery serve)', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`, BINDERY_BOOTSTRAP_APP: 'false' };
    const first = await startServer(env);
    t.after(() => stopServer(first));
    const port = new URL(first.url).port;
    const started = spawnSync(process.execPath, ['dist/server/server.js'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, ...env, BINDERY_PORT: port },
      encoding: 'utf8',
    });
    const served = cli(['serve'], { ...env, BINDERY_PORT: port });
    for (const run of [started, served]) {
      assert.equal(run.status, 1);
      assert.match(
        run.stderr,
        new RegExp(
          `cannot start: listen EADDRINUSE: address already in use 127\\.0\\.0\\.1:${port}\\. Another process uses that port: stop it, or set BINDERY_PORT to a free one\\.`,
        ),
      );
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('tightens the files an earlier release left readable by others', async (t) => {
    const dir = tempDir(t);
    const db = join(dir, 'b.db');
    const env = { BINDERY_DATABASE_URL: `sqlite:${db}`, BINDERY_BOOTSTRAP_APP: 'false' };
    const server = await startServer(env);
    await stopServer(server);
    chmodSync(db, 0o644);
    const again = await startServer(env);
    t.after(() => stopServer(again));
    assert.equal((statSync(db).mode & 0o777).toString(8), '600');
  });

  it('on SIGTERM finishes the request in flight, refuses new connections, and exits 0', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`, BINDERY_BOOTSTRAP_APP: 'false' };
    const app = JSON.parse(cli(['app', 'create', '--name', 'x', '--json'], env).stdout) as Record<string, string>;
    const auth = basicHeader(app.access_id!, app.secret_key!);
    const server = await startServer(env);
    t.after(() => stopServer(server));
    const body = JSON.stringify({
      operator_type: 1,
      token_accounts: [{ token: 'slow', account_list: [{ account: 'alice' }] }],
    });
    const { port } = new URL(server.url);
    // A request whose body arrives in two parts, with SIGTERM sent in between.
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: BATCH,
          method: 'POST',
          headers: { authorization: auth, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 20));
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(20)), 300);
      }, 200);
    });
    const finished = await answer;
    assert.equal(finished.status, 200);
    assert.deepEqual(JSON.parse(finished.body).result, ['0']);
    await assert.rejects(fetch(`${server.url}/healthz`), 'no new connections while closing');
    assert.equal(await server.exited, 0);
    assert.match(server.output(), /shut down cleanly/);
    const again = await startServer(env);
    t.after(() => stopServer(again));
    const found = await call(again.url, QUERY, auth, { operator_type: 2, token_list: ['slow'] });
    assert.deepEqual(found.result, ['0'], 'the answered change is there after the restart');
  });

  it('keeps every answered change across kill -9 under concurrent writes', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`, BINDERY_BOOTSTRAP_APP: 'false' };
    const app = JSON.parse(cli(['app', 'create', '--name', 'x', '--json'], env).stdout) as Record<string, string>;
    const auth = basicHeader(app.access_id!, app.secret_key!);
    const answered: string[] = [];
    for (let round = 0; round < 3; round++) {
      const server = await startServer(env);
      let stop = false;
      const writer = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const token = `r${round}-w${w}-${i}`;
          try {
            const body = await call(server.url, BATCH, auth, {
              operator_type: 1,
              token_accounts: [{ token, account_list: [{ account: `u-${token}` }, { account: `v-${token}` }] }],
            });
            if (body.ret_code === 0) answered.push(token);
          } catch {
            return; // the process died mid-request: this one was never answered
          }
        }
      };
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 500));
      server.child.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await server.exited;
    }
    assert.ok(answered.length > 20, `enough writes were answered (${answered.length})`);
    await t.test('every answered change is present after a restart', async () => {
      const server = await startServer(env);
      try {
        for (let i = 0; i < answered.length; i += 100) {
          const tokens = answered.slice(i, i + 100);
          const found = await call(server.url, QUERY, auth, { operator_type: 2, token_list: tokens });
          const lists = found.token_accounts as { token: string; account_list: { account: string }[] }[];
          lists.forEach((entry, j) => {
            const accounts = entry.account_list.map((a) => a.account);
            // Both accounts of one element or neither: never half a request.
            assert.deepEqual(accounts.sort(), [`u-${tokens[j]}`, `v-${tokens[j]}`], `token ${tokens[j]}`);
          });
        }
      } finally {
        await stopServer(server);
      }
    });
  });
});
