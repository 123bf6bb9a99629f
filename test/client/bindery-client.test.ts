/** The SDK over a real socket: against a real server, and against stub servers for retries. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BinderyClient, BinderyError } from '../../src/client/index.ts';
import { tempDir } from '../support/helpers.ts';
import { cli, startServer, stopServer } from '../support/server-process.ts';

async function realServer(t: TestContext) {
  const env = {
    BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`,
    BINDERY_BOOTSTRAP_APP: 'false',
    BINDERY_LOG_LEVEL: 'warn',
  };
  const app = JSON.parse(cli(['app', 'create', '--name', 'sdk', '--json'], env).stdout) as {
    access_id: string;
    secret_key: string;
  };
  const server = await startServer(env);
  t.after(() => stopServer(server));
  const requests: string[] = [];
  const counting: typeof fetch = (input, init) => {
    requests.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname} ${String(init?.body ?? '').length}`);
    return fetch(input, init);
  };
  return {
    url: server.url,
    app,
    requests,
    client: (extra = {}) =>
      new BinderyClient({
        baseUrl: server.url,
        accessId: app.access_id,
        secretKey: app.secret_key,
        fetch: counting,
        ...extra,
      }),
  };
}

async function stub(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse, n: number) => void) {
  let n = 0;
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    req.resume();
    req.on('end', () => handler(req, res, n++));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, seen };
}

const OK_BODY = JSON.stringify({ ret_code: 0, err_msg: 'ok', retCode: 0, errMsg: 'ok', result: ['0'] });
const bindOne = { operator_type: 1 as const, token_accounts: [{ token: 't', account_list: [{ account: 'alice' }] }] };

describe('SDK against a real server', () => {
  it('splits large requests and merges the answers in request order', async (t) => {
    const { client, requests } = await realServer(t);
    const bindery = client();
    const token_accounts = Array.from({ length: 45 }, (_, i) => ({
      token: `t${i}`,
      account_list: [{ account: i === 30 ? 'x' : `user${i}` }],
    }));
    const answer = await bindery.batchoperate({ operator_type: 1, token_accounts });
    assert.equal(requests.filter((r) => r.includes('batchoperate')).length, 3, '45 token_accounts go as 20 + 20 + 5');
    assert.equal(answer.result.length, 45);
    assert.deepEqual(
      answer.result.map((r, i) => [i, r]).filter(([, r]) => r !== '0'),
      [[30, '1008007']],
    );
    assert.equal(answer.ret_code, 1008026);
    assert.match(answer.err_msg, /^\[elements 20\.\.39\] 1 of 20 elements failed.*token_accounts\[10\]/);

    const tokens = Array.from({ length: 150 }, (_, i) => `t${149 - i}`);
    const query = await bindery.query({ operator_type: 2, token_list: tokens });
    assert.equal(query.token_accounts?.length, 150);
    assert.deepEqual(
      query.token_accounts?.map((e) => e.token),
      tokens,
      'request order',
    );
    assert.deepEqual(query.token_accounts?.[149]?.account_list, [{ account: 'user0', account_type: 0 }]);
    assert.equal(query.result.filter((r) => r === '10110008').length, 150 - 44);
  });

  it('login (exclusive or not), logout, devices and accounts, REST reads and history, with Basic or signature auth', async (t) => {
    const { client } = await realServer(t);
    for (const auth of ['basic', 'signature'] as const) {
      const bindery = client({ auth });
      const token = `phone-${auth}`;
      await bindery.login(token, 'alice', { platform: 'ios' });
      await bindery.login(token, { account: 'bob', account_type: 2 });
      assert.deepEqual(await bindery.accountsOf(token), [
        { account: 'alice', account_type: 0 },
        { account: 'bob', account_type: 2 },
      ]);
      await bindery.login(token, 'carol', { exclusive: true });
      assert.deepEqual(await bindery.accountsOf(token), [{ account: 'carol', account_type: 0 }]);
      assert.deepEqual(await bindery.devicesOf('carol'), [token], 'the previous pass logged its phone out');
      assert.deepEqual(
        (await bindery.tokenAccounts(token)).map((a) => [a.account, a.platform]),
        [['carol', 'ios']],
      );
      assert.deepEqual(
        (await bindery.accountTokens('bob', 2)).map((x) => x.token),
        [],
      );
      await bindery.logout(token);
      assert.deepEqual(await bindery.accountsOf(token), []);
    }
    const bindery = client();
    const causes = [];
    for await (const entry of bindery.historyAll({ token: 'phone-basic' })) causes.push(entry.cause);
    assert.deepEqual(causes, ['token_reset', 'bind', 'override', 'override', 'bind', 'bind']);
  });

  it('throws a typed error for a refused request, and does not retry a 4xx', async (t) => {
    const { client, requests } = await realServer(t);
    const wrong = client({ secretKey: 'f'.repeat(32) });
    await assert.rejects(wrong.batchoperate(bindOne), (error: unknown) => {
      assert.ok(error instanceof BinderyError);
      assert.deepEqual([error.retCode, error.ret_code, error.httpStatus], [1008003, 1008003, 401]);
      assert.match(error.errMsg, /authentication failed/);
      return true;
    });
    assert.equal(requests.length, 1, 'a 401 is not retried');
    await assert.rejects(
      client().query({ operator_type: 1, account_list: [] }),
      (error: unknown) => error instanceof BinderyError && error.retCode === 1008002 && error.httpStatus === 400,
    );
  });

  it('streams an export and imports in chunks with line numbers over the whole input', async (t) => {
    const { client, requests } = await realServer(t);
    const bindery = client();
    const records = Array.from({ length: 2500 }, (_, i) =>
      i === 1234
        ? { token: '', account: 'x1' }
        : { token: `t${String(i).padStart(4, '0')}`, account: `u${i % 7}`, platform: 'android' as const },
    );
    const progress: number[] = [];
    const summary = await bindery.importBindings(records, { chunkSize: 1000, onProgress: (n) => progress.push(n) });
    assert.deepEqual(progress, [1000, 2000, 2500]);
    assert.deepEqual([summary.imported, summary.failed], [2499, 1]);
    assert.deepEqual(summary.errors, [{ line: 1235, err_msg: 'line 1235: token: empty' }]);
    assert.equal(requests.filter((r) => r.includes('import')).length, 3);
    let count = 0;
    for await (const record of bindery.exportBindings()) {
      if (count === 0)
        assert.deepEqual(
          [record.token, record.account, record.account_type, record.platform],
          ['t0000', 'u0', 0, 'android'],
        );
      count++;
    }
    assert.equal(count, 2499);
  });
});

describe('SDK as a package', () => {
  it("imports as 'bindery/client' from another project, in plain Node", async (t) => {
    const project = tempDir(t);
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(fileURLToPath(new URL('../..', import.meta.url)), join(project, 'node_modules', 'bindery'));
    writeFileSync(join(project, 'package.json'), '{"type":"module"}');
    writeFileSync(
      join(project, 'use.mjs'),
      "import { BinderyClient, BinderyError, REGIONS } from 'bindery/client';\nconst c = new BinderyClient({ region: " +
        "'singapore', accessId: '1', secretKey: 'k' });\nconsole.log(typeof c.batchoperate, typeof BinderyError, " +
        'REGIONS.singapore);\n',
    );
    const run = spawnSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'function function https://api.tpns.sgp.tencent.com\n');
  });
});

describe('SDK retries', () => {
  it('retries a 503 and then succeeds, with the same Idempotency-Key', async (t) => {
    const server = await stub(t, (_req, res, n) => {
      res.statusCode = n === 0 ? 503 : 200;
      res.end(n === 0 ? '{"ret_code":1008004,"err_msg":"store unavailable"}' : OK_BODY);
    });
    const bindery = new BinderyClient({ baseUrl: server.url, accessId: '1', secretKey: 'k', retryBaseMs: 10 });
    assert.equal((await bindery.batchoperate(bindOne)).ret_code, 0);
    assert.equal(server.seen.length, 2);
    const keys = server.seen.map((r) => r.headers['idempotency-key']);
    assert.ok(keys[0] && keys[0] === keys[1], 'a retry carries the same key');
  });

  it('honours Retry-After on 429, gives up after the retries with the last error, and never retries a 400', async (t) => {
    const limited = await stub(t, (_req, res, n) => {
      res.statusCode = n < 2 ? 429 : 200;
      if (n < 2) res.setHeader('retry-after', '0');
      res.end(n < 2 ? '{"ret_code":1008028,"err_msg":"rate limit exceeded"}' : OK_BODY);
    });
    await new BinderyClient({ baseUrl: limited.url, accessId: '1', secretKey: 'k', retryBaseMs: 10 }).batchoperate(
      bindOne,
    );
    assert.equal(limited.seen.length, 3);

    const down = await stub(t, (_req, res) => {
      res.statusCode = 503;
      res.end('{"ret_code":1008004,"err_msg":"store unavailable"}');
    });
    await assert.rejects(
      new BinderyClient({ baseUrl: down.url, accessId: '1', secretKey: 'k', retries: 2, retryBaseMs: 5 }).query({
        operator_type: 2,
        token_list: ['t'],
      }),
      (e: unknown) => e instanceof BinderyError && e.retCode === 1008004 && e.httpStatus === 503,
    );
    assert.equal(down.seen.length, 3, 'first attempt + 2 retries');

    const bad = await stub(t, (_req, res) => {
      res.statusCode = 400;
      res.end('{"ret_code":1008007,"err_msg":"operator_type: bad"}');
    });
    await assert.rejects(
      new BinderyClient({ baseUrl: bad.url, accessId: '1', secretKey: 'k', retryBaseMs: 5 }).query({
        operator_type: 2,
        token_list: ['t'],
      }),
      BinderyError,
    );
    assert.equal(bad.seen.length, 1);
  });

  it('lets an export stream past the timeout while data keeps coming, and stops one that stalls', async (t) => {
    const line = (i: number) => `${JSON.stringify({ token: `t${i}`, account: 'a', account_type: 0, bound_at: 1 })}\n`;
    // 12 lines 60 ms apart: 720 ms in all, each gap well inside a 300 ms timeout.
    const { url } = await stub(t, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let i = 0;
      const stalls = req.url === '/api/v1/export' && req.headers['x-stall'] !== undefined;
      const next = () => {
        res.write(line(i++));
        if (stalls && i === 3) return; // then silence, the connection left open
        if (i < 12) setTimeout(next, 60);
        else res.end();
      };
      next();
    });
    const bindery = new BinderyClient({ baseUrl: url, accessId: '1', secretKey: 'k', timeoutMs: 300, retries: 0 });
    const started = Date.now();
    const tokens: string[] = [];
    for await (const record of bindery.exportBindings()) tokens.push(record.token);
    assert.equal(tokens.length, 12, 'the whole export arrived');
    assert.ok(Date.now() - started > 600, 'and it took longer than the timeout');

    const stalling = new BinderyClient({
      baseUrl: url,
      accessId: '1',
      secretKey: 'k',
      timeoutMs: 300,
      retries: 0,
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, 'x-stall': '1' } }),
    });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const record of stalling.exportBindings()) seen.push(record.token);
      })(),
      (e: unknown) =>
        e instanceof BinderyError && e.retCode === -1 && /GET \/api\/v1\/export: .*no data for 300 ms/.test(e.errMsg),
    );
    assert.deepEqual(seen, ['t0', 't1', 't2'], 'what came before the stall was delivered');
  });

  it("ends an export with the server's error when its last line is one, and reports one that broke off", async (t) => {
    const binding = (i: number) => `${JSON.stringify({ token: `t${i}`, account: 'a', account_type: 0 })}\n`;
    const ended = JSON.stringify({
      ret_code: 1008028,
      err_msg: 'export ended after 3600000 ms (BINDERY_EXPORT_MAX_MS)',
    });
    const { url, seen } = await stub(t, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      // Two bindings, then: a third, the server's error line, or the connection cut once they are sent.
      res.write(binding(0) + binding(1), () => {
        if (req.url?.includes('from_token')) res.end(binding(2));
        else if (req.headers['x-cut'] !== undefined) setTimeout(() => res.socket?.destroy(), 50);
        else res.end(`${ended}\n`);
      });
    });
    const exported = async (client: BinderyClient, options = {}) => {
      const tokens: string[] = [];
      try {
        for await (const record of client.exportBindings(options)) tokens.push(record.token);
        return { tokens };
      } catch (error) {
        return { tokens, error: error as BinderyError };
      }
    };
    const bindery = new BinderyClient({ baseUrl: url, accessId: '1', secretKey: 'k', retries: 0 });
    const ending = await exported(bindery);
    assert.deepEqual(ending.tokens, ['t0', 't1'], 'the status line is not a binding');
    assert.ok(ending.error instanceof BinderyError);
    assert.deepEqual([ending.error.retCode, ending.error.errMsg], [1008028, JSON.parse(ended).err_msg]);

    const cutting = new BinderyClient({
      baseUrl: url,
      accessId: '1',
      secretKey: 'k',
      retries: 0,
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, 'x-cut': '1' } }),
    });
    const cut = await exported(cutting);
    assert.deepEqual(cut.tokens, ['t0', 't1']);
    assert.ok(cut.error instanceof BinderyError);
    assert.equal(cut.error.retCode, -1);
    assert.match(
      cut.error.errMsg,
      /^GET \/api\/v1\/export: the answer broke off after 2 bindings \(.+\); export again/,
    );

    const resumed = await exported(bindery, { fromToken: 't1 &x' });
    assert.deepEqual(resumed, { tokens: ['t0', 't1', 't2'] });
    assert.equal(seen.at(-1)!.url, '/api/v1/export?from_token=t1%20%26x');
  });

  it('retries network errors and then reports them', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const port = typeof address === 'object' && address ? address.port : 0;
    const bindery = new BinderyClient({
      baseUrl: `http://127.0.0.1:${port}`,
      accessId: '1',
      secretKey: 'k',
      retries: 2,
      retryBaseMs: 5,
    });
    await assert.rejects(
      bindery.devicesOf('alice'),
      (e: unknown) =>
        e instanceof BinderyError && e.retCode === -1 && e.httpStatus === 0 && /ECONNREFUSED/.test(e.errMsg),
    );
  });

  it('knows the TPNS access points by name', () => {
    assert.throws(() => new BinderyClient({ accessId: '1', secretKey: 'k' }), /give baseUrl or region/);
    assert.doesNotThrow(() => new BinderyClient({ region: 'hongkong', accessId: '1', secretKey: 'k' }));
  });
});
