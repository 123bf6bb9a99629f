/** Security: tenants never meet through any endpoint; slow bodies are cut off; deep nesting is refused cleanly. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATCH, basic, QUERY, tempDir, testServer } from '../support/helpers.ts';
import { cli, startServer, stopServer } from '../support/server-process.ts';

/** An HTTP answer's body is a TPNS status: 1008007 and the message. */
function assertTpnsBody(answer: string, message: RegExp): void {
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
    ret_code: number;
    err_msg: string;
    retCode: number;
  };
  assert.deepEqual([body.ret_code, body.retCode], [1008007, 1008007]);
  assert.match(body.err_msg, message);
}

describe('security', () => {
  it('app B neither sees nor changes app A through any endpoint', async (t) => {
    const server = await testServer(t);
    const a = basic(server.tenant);
    const b = basic(await server.service.create({ name: 'intruder' }));
    const send = (method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: string) =>
      server.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
    await send(
      'POST',
      BATCH,
      a,
      JSON.stringify({
        operator_type: 1,
        platform: 'ios',
        token_accounts: [{ token: 'secret-device', account_list: [{ account: 'victim' }] }],
      }),
    );
    const before = (await send('GET', '/api/v1/export', a)).body;

    const json = async (method: 'GET' | 'POST', url: string, payload?: string) =>
      (await send(method, url, b, payload)).json() as Record<string, unknown>;
    assert.deepEqual(
      (await json('POST', QUERY, JSON.stringify({ operator_type: 1, account_list: [{ account: 'victim' }] }))).result,
      ['10110008'],
    );
    assert.deepEqual(
      (await json('POST', QUERY, JSON.stringify({ operator_type: 2, token_list: ['secret-device'] }))).result,
      ['10110008'],
    );
    assert.deepEqual((await json('GET', '/api/v1/accounts/victim/tokens')).tokens, []);
    assert.deepEqual((await json('GET', '/api/v1/tokens/secret-device/accounts')).accounts, []);
    assert.deepEqual((await json('GET', '/api/v1/history')).entries, []);
    assert.deepEqual((await json('GET', '/api/v1/history?account=victim')).entries, []);
    assert.equal((await send('GET', '/api/v1/export', b)).body, '');
    for (const body of [
      { operator_type: 3, token_accounts: [{ token: 'secret-device', account_list: [{ account: 'victim' }] }] },
      { operator_type: 4, token_list: ['secret-device'] },
      { operator_type: 5, account_list: [{ account: 'victim' }] },
      { operator_type: 2, token_accounts: [{ token: 'secret-device', account_list: [{ account: 'intruder' }] }] },
    ]) {
      await send('POST', BATCH, b, JSON.stringify(body));
    }
    await send(
      'POST',
      '/api/v1/import',
      { ...b, 'content-type': 'application/x-ndjson' },
      '{"token":"secret-device","account":"intruder"}\n',
    );
    assert.equal((await send('GET', '/api/v1/export', a)).body, before, "A's bindings are exactly as they were");
    assert.equal((await send('GET', '/admin/v1/apps', a)).statusCode, 404, 'no admin API without a token');
  });

  it('cuts off a request whose body never finishes', async (t) => {
    const env = {
      BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_REQUEST_TIMEOUT_MS: '1000',
      BINDERY_LOG_LEVEL: 'warn',
    };
    cli(['app', 'create', '--name', 'x'], env);
    const server = await startServer(env);
    t.after(() => stopServer(server));
    const { port } = new URL(server.url);
    const started = Date.now();
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(`POST ${BATCH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"operator_type":`);
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 5000, `closed after ${elapsed} ms`);
    assert.match(answer, /^HTTP\/1\.1 408 /, `answered ${JSON.stringify(answer.slice(0, 40))}`);
    assertTpnsBody(answer, /request: not received within 1000 ms/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the server is fine');
  });

  it("answers Node's own refusals (malformed HTTP, headers too large) TPNS-shaped, the status kept", async (t) => {
    const env = {
      BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'warn',
    };
    const server = await startServer(env);
    t.after(() => stopServer(server));
    const { port } = new URL(server.url);
    const raw = (request: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(text));
      });
    const malformed = await raw('HELLO THERE\r\n\r\n');
    assert.match(malformed, /^HTTP\/1\.1 400 /);
    assertTpnsBody(malformed, /request: malformed HTTP/);
    const huge = await raw(`POST ${BATCH} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assertTpnsBody(huge, /request headers: larger than \d+ bytes/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the server is fine');
  });

  it('logs failed admin authentication with the address, never the token presented', async (t) => {
    const admin = 'the-real-admin-token-0123456789';
    const env = {
      BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'warn',
      BINDERY_ADMIN_TOKEN: admin,
    };
    const server = await startServer(env);
    t.after(() => stopServer(server));
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const response = await fetch(`${server.url}/admin/v1/apps`, {
        headers: { authorization: `Bearer guess-number-${i}-secretish` },
      });
      statuses.push(response.status);
      if (response.status === 429) assert.ok(Number(response.headers.get('retry-after')) > 0);
    }
    assert.deepEqual(statuses, [...Array<number>(10).fill(401), 429]);
    // The server's log reaches its stdout a moment after the answer does.
    const failures = () =>
      server
        .output()
        .split('\n')
        .filter((line) => line.includes('admin authentication failed'));
    for (let waited = 0; failures().length < 11 && waited < 5000; waited += 50) await sleep(50);
    const lines = failures();
    assert.equal(lines.length, 11, 'every failure is logged, the throttled one too');
    assert.equal((JSON.parse(lines[10]!) as { ip: string; failures: number }).failures, 11);
    assert.match(lines[0]!, /"ip":"127\.0\.0\.1"/);
    assert.doesNotMatch(server.output(), /guess-number|secretish/, 'what was presented is never logged');
  });

  it('refuses deeply nested and oversized bodies cleanly', async (t) => {
    const server = await testServer(t);
    const auth = basic(server.tenant);
    const deep = `{"operator_type":1,"token_accounts":${'['.repeat(500_000)}${']'.repeat(500_000)}}`;
    const nested = await server.app.inject({ method: 'POST', url: BATCH, headers: auth, payload: deep });
    // The validators never recurse: nesting costs no more than the bytes it takes, and the element is refused.
    assert.deepEqual([nested.statusCode, nested.json().ret_code, nested.json().result], [200, 1008027, ['1008007']]);
    const longAccount = await server.app.inject({
      method: 'POST',
      url: BATCH,
      headers: auth,
      payload: JSON.stringify({ operator_type: 5, account_list: [{ account: 'a'.repeat(10_000) }] }),
    });
    assert.equal(longAccount.json().result[0], '1008007');
    const longOp = await server.app.inject({
      method: 'POST',
      url: BATCH,
      headers: auth,
      payload: JSON.stringify({ operator_type: 4, token_list: ['t'], op_id: 'x'.repeat(100_000) }),
    });
    assert.deepEqual([longOp.statusCode, longOp.json().err_msg], [400, 'op_id: longer than 128 characters']);
  });
});
