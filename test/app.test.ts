/** The HTTP edge: body parsing whatever the Content-Type, limits, unknown paths and methods, store failures, logs. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { buildApp, loggerOptions } from '../src/app.ts';
import { AppService } from '../src/domain/app-service.ts';
import { tpnsSign } from '../src/http/auth.ts';
import {
  BATCH,
  BIND_ONE,
  basic,
  post,
  QUERY,
  sqliteStore,
  statusOf,
  testConfig,
  testServer,
} from './support/helpers.ts';

describe('protocol', () => {
  it('parses the body as JSON whatever the Content-Type says', async (t) => {
    const server = await testServer(t);
    for (const type of [
      undefined,
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      "application/json;charset='utf-8'",
      'application/json; charset=UTF-8',
      'garbage/!!',
    ]) {
      const headers: Record<string, string> = { ...basic(server.tenant), ...(type ? { 'content-type': type } : {}) };
      // Twice: the second is answered by the parser Fastify kept for this header value.
      for (const time of [1, 2]) {
        const response = await server.app.inject({ method: 'POST', url: BATCH, payload: BIND_ONE, headers });
        assert.equal(response.statusCode, 200, `Content-Type ${String(type)}, time ${time}`);
        assert.deepEqual(response.json().result, ['0']);
      }
    }
  });

  it('answers 1008001 for a body that is not a JSON object', async (t) => {
    const server = await testServer(t);
    const cases: [string | Buffer, string][] = [
      ['{"operator_type": 1,', 'body: not valid JSON'],
      ['', 'body: empty; send a JSON object'],
      ['[1,2]', 'body: must be a JSON object, got an array'],
      ['null', 'body: must be a JSON object, got null'],
      ['"text"', 'body: must be a JSON object, got string'],
      [Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'body: not valid UTF-8'],
    ];
    for (const [payload, message] of cases) {
      const response = await post(server, BATCH, payload, basic(server.tenant));
      assert.equal(response.status, 400, message);
      assert.equal(response.body.ret_code, 1008001);
      assert.ok(
        String(response.body.err_msg).startsWith(message),
        `${String(response.body.err_msg)} starts with ${message}`,
      );
    }
  });

  it('checks authentication before parsing the body', async (t) => {
    const server = await testServer(t);
    const response = await post(server, BATCH, '{not json', {});
    assert.equal(response.status, 401);
    assert.equal(response.body.ret_code, 1008003);
  });

  it('answers 413 with 1008007 for a body over 1 MiB and changes nothing', async (t) => {
    const server = await testServer(t);
    const big = JSON.stringify({
      operator_type: 1,
      token_accounts: [{ token: 't1', account_list: [{ account: 'alice' }] }],
      pad: 'x'.repeat(1024 * 1024),
    });
    const response = await post(server, BATCH, big, basic(server.tenant));
    assert.deepEqual(response, {
      status: 413,
      body: statusOf(1008007, 'body: larger than the limit of 1048576 bytes'),
    });
    const query = await post(server, QUERY, { operator_type: 2, token_list: ['t1'] }, basic(server.tenant));
    assert.deepEqual(query.body.result, ['10110008']);
  });

  it('a whole-request error changes nothing (21 token_accounts)', async (t) => {
    const server = await testServer(t);
    const tokenAccounts = Array.from({ length: 21 }, (_, i) => ({
      token: `t${i}`,
      account_list: [{ account: 'alice' }],
    }));
    const response = await post(
      server,
      BATCH,
      { operator_type: 1, token_accounts: tokenAccounts },
      basic(server.tenant),
    );
    assert.deepEqual(response, { status: 400, body: statusOf(1008007, 'token_accounts: at most 20 entries, got 21') });
    const query = await post(
      server,
      QUERY,
      { operator_type: 1, account_list: [{ account: 'alice' }] },
      basic(server.tenant),
    );
    assert.deepEqual(query.body.result, ['10110008']);
  });

  it('batchoperate refuses missing or empty lists and bad operator types', async (t) => {
    const server = await testServer(t);
    const cases: [unknown, number, string][] = [
      [{ token_list: ['t'] }, 1008002, 'operator_type: required'],
      [{ operator_type: null }, 1008002, 'operator_type: required'],
      [{ operator_type: 0 }, 1008007, 'operator_type: must be an integer from 1 to 5, got number 0'],
      [{ operator_type: 6 }, 1008007, 'operator_type: must be an integer from 1 to 5, got number 6'],
      [{ operator_type: 1.5 }, 1008007, 'operator_type: must be an integer from 1 to 5, got number 1.5'],
      [{ operator_type: 1 }, 1008002, 'token_accounts: required when operator_type is 1'],
      [{ operator_type: 2, token_accounts: [] }, 1008002, 'token_accounts: must not be empty when operator_type is 2'],
      [{ operator_type: 3, token_accounts: {} }, 1008007, 'token_accounts: must be an array, got an object'],
      [{ operator_type: 4, token_accounts: [{ token: 't' }] }, 1008002, 'token_list: required when operator_type is 4'],
      [{ operator_type: 5, account_list: [] }, 1008002, 'account_list: must not be empty when operator_type is 5'],
      [
        { operator_type: 5, account_list: Array.from({ length: 101 }, (_, i) => ({ account: `u${i}` })) },
        1008007,
        'account_list: at most 100 entries, got 101',
      ],
    ];
    for (const [body, code, message] of cases) {
      assert.deepEqual(
        await post(server, BATCH, body, basic(server.tenant)),
        { status: 400, body: statusOf(code, message) },
        message,
      );
    }
  });

  it('answers 404 for an unknown path and 405 for a wrong method, both with 1008007', async (t) => {
    const server = await testServer(t);
    const notFound = await server.app.inject({ method: 'POST', url: '/v3/device/account/bind' });
    assert.equal(notFound.statusCode, 404);
    assert.deepEqual(notFound.json(), statusOf(1008007, 'no such endpoint: POST /v3/device/account/bind'));
    const wrongMethod = await server.app.inject({ method: 'GET', url: `${QUERY}?x=1` });
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.headers.allow, 'POST');
    assert.deepEqual(wrongMethod.json(), statusOf(1008007, `method GET is not allowed on ${QUERY}; use POST`));
  });

  it('echoes a request id, or makes one', async (t) => {
    const server = await testServer(t);
    const given = await server.app.inject({
      method: 'POST',
      url: QUERY,
      payload: '{}',
      headers: { 'x-request-id': 'abc-123' },
    });
    assert.equal(given.headers['x-request-id'], 'abc-123');
    const made = await server.app.inject({ method: 'POST', url: QUERY, payload: '{}' });
    assert.match(String(made.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('answers 1008004 with 503 when the store is closed, and 500 when it fails', async (t) => {
    const { store, path } = await sqliteStore(t);
    const app = await buildApp(testConfig(), store);
    t.after(() => app.close());
    const tenant = await new AppService(store, 0).create({ name: 't' });
    const db = new Database(path);
    db.exec('DROP TABLE bindings');
    db.close();
    const broken = await post({ app }, QUERY, { operator_type: 2, token_list: ['t1'] }, basic(tenant));
    assert.deepEqual(broken, {
      status: 500,
      body: statusOf(1008004, 'internal error: nothing was changed; the detail is in the server log'),
    });
    const readyWhileBroken = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(readyWhileBroken.statusCode, 200, 'the store itself still answers');
    await store.close();
    const closed = await post({ app }, BATCH, BIND_ONE, basic(tenant));
    assert.deepEqual(closed, {
      status: 503,
      body: statusOf(1008004, 'store unavailable: nothing was changed; retry shortly'),
    });
  });

  it('/healthz and /readyz answer', async (t) => {
    const server = await testServer(t, { region: 'guangzhou' });
    assert.equal((await server.app.inject({ method: 'GET', url: '/healthz' })).json().status, 'ok');
    assert.deepEqual((await server.app.inject({ method: 'GET', url: '/readyz' })).json(), {
      status: 'ready',
      store: 'sqlite',
      region: 'guangzhou',
    });
    await server.store.close();
    const notReady = await server.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(notReady.statusCode, 503);
    assert.equal(notReady.json().status, 'not ready');
  });
});

describe('logs', () => {
  it('by default write no line per request, and a failure with the id of its request', async (t) => {
    const { store } = await sqliteStore(t);
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const tenant = await new AppService(store, 0).create({ name: 'x' });
    const failing = Object.create(store) as typeof store;
    failing.tokensOfAccounts = () => Promise.reject(new Error('disk on fire'));
    const app = await buildApp(testConfig(), failing, { logger: { ...(loggerOptions('info') as object), stream } });
    t.after(() => app.close());
    const ok = await app.inject({ method: 'POST', url: BATCH, payload: BIND_ONE, headers: basic(tenant) });
    assert.equal(ok.statusCode, 200);
    assert.equal(lines.length, 0, 'an answered request writes nothing at info');
    const failed = await app.inject({
      method: 'POST',
      url: '/v3/device/account/query',
      payload: '{"operator_type":1,"account_list":[{"account":"alice"}]}',
      headers: basic(tenant),
    });
    assert.equal(failed.statusCode, 500);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.msg, 'request failed inside the server');
    assert.equal(lines[0]?.reqId, failed.headers['x-request-id']);
    assert.equal((lines[0]?.err as { message?: string } | undefined)?.message, 'disk on fire');
  });

  it('carry request ids and never a secret, a signature or the admin token', async (t) => {
    const { store } = await sqliteStore(t);
    let log = '';
    const stream = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        log += chunk.toString();
        done();
      },
    });
    const adminToken = 'admin-token-that-must-not-leak';
    const app = await buildApp(testConfig({ adminToken, logRequests: true }), store, {
      logger: { ...(loggerOptions('trace') as object), stream },
    });
    t.after(() => app.close());
    const tenant = await new AppService(store, 0).create({ name: 'x' });
    await app.inject({ method: 'POST', url: BATCH, payload: BIND_ONE, headers: basic(tenant) });
    const ts = String(Math.floor(Date.now() / 1000));
    const sign = tpnsSign(tenant.secretKey, ts + tenant.accessId, Buffer.from(BIND_ONE));
    await app.inject({
      method: 'POST',
      url: BATCH,
      payload: BIND_ONE,
      headers: { accessid: tenant.accessId, timestamp: ts, sign },
    });
    await app.inject({
      method: 'POST',
      url: BATCH,
      payload: BIND_ONE,
      headers: basic({ accessId: tenant.accessId, secretKey: 'f'.repeat(32) }),
    });
    const created = await app.inject({
      method: 'POST',
      url: '/admin/v1/apps',
      payload: '{"name":"y"}',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const createdSecret = created.json().secret_key as string;
    assert.ok(log.includes('"reqId"'), 'requests are logged with their id');
    for (const secret of [
      tenant.secretKey,
      sign,
      adminToken,
      createdSecret,
      Buffer.from(`${tenant.accessId}:${tenant.secretKey}`).toString('base64'),
    ]) {
      assert.ok(!log.includes(secret), `the log does not contain ${secret.slice(0, 6)}…`);
    }
  });
});
