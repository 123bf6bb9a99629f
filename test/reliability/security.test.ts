/** Security: tenants never meet through any endpoint; slow bodies are cut off; deep nesting is refused cleanly. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BATCH, basic, QUERY, tempDir, testServer } from '../helpers.ts';
import { cli, startServer, stopServer } from '../server-process.ts';

describe('security', () => {
  it('app B neither sees nor changes app A through any endpoint', async (t) => {
    const server = await testServer(t);
    const a = basic(server.tenant);
    const b = basic(await server.service.create({ name: 'intruder' }));
    const send = (method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: string) => server.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
    await send('POST', BATCH, a, JSON.stringify({ operator_type: 1, platform: 'ios', token_accounts: [{ token: 'secret-device', account_list: [{ account: 'victim' }] }] }));
    const before = (await send('GET', '/api/v1/export', a)).body;

    const json = async (method: 'GET' | 'POST', url: string, payload?: string) => (await send(method, url, b, payload)).json() as Record<string, unknown>;
    assert.deepEqual((await json('POST', QUERY, JSON.stringify({ operator_type: 1, account_list: [{ account: 'victim' }] }))).result, ['10110008']);
    assert.deepEqual((await json('POST', QUERY, JSON.stringify({ operator_type: 2, token_list: ['secret-device'] }))).result, ['10110008']);
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
    await send('POST', '/api/v1/import', { ...b, 'content-type': 'application/x-ndjson' }, '{"token":"secret-device","account":"intruder"}\n');
    assert.equal((await send('GET', '/api/v1/export', a)).body, before, "A's bindings are exactly as they were");
    assert.equal((await send('GET', '/admin/v1/apps', a)).statusCode, 404, 'no admin API without a token');
  });

  it('cuts off a request whose body never finishes', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`, BINDERY_BOOTSTRAP_APP: 'false', BINDERY_REQUEST_TIMEOUT_MS: '1000', BINDERY_LOG_LEVEL: 'warn' };
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
    assert.match(answer, /^HTTP\/1\.1 408|^$/, `answered ${JSON.stringify(answer.slice(0, 40))}`);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the server is fine');
  });

  it('refuses deeply nested and oversized bodies cleanly', async (t) => {
    const server = await testServer(t);
    const auth = basic(server.tenant);
    const deep = `{"operator_type":1,"token_accounts":${'['.repeat(500_000)}${']'.repeat(500_000)}}`;
    const nested = await server.app.inject({ method: 'POST', url: BATCH, headers: auth, payload: deep });
    // The validators never recurse: nesting costs no more than the bytes it takes, and the element is refused.
    assert.deepEqual([nested.statusCode, nested.json().ret_code, nested.json().result], [200, 1008027, ['1008007']]);
    const longAccount = await server.app.inject({ method: 'POST', url: BATCH, headers: auth, payload: JSON.stringify({ operator_type: 5, account_list: [{ account: 'a'.repeat(10_000) }] }) });
    assert.equal(longAccount.json().result[0], '1008007');
    const longOp = await server.app.inject({ method: 'POST', url: BATCH, headers: auth, payload: JSON.stringify({ operator_type: 4, token_list: ['t'], op_id: 'x'.repeat(100_000) }) });
    assert.deepEqual([longOp.statusCode, longOp.json().err_msg], [400, 'op_id: longer than 128 characters']);
  });
});
