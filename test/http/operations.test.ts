/** Idempotency-Key, rate limits, metrics, OpenAPI, and secrets kept out of the log. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { buildApp, loggerOptions } from '../../src/app.ts';
import { AppService } from '../../src/domain/app-service.ts';
import { tpnsSign } from '../../src/http/auth.ts';
import { BATCH, basic, QUERY, sqliteStore, type TestServer, testConfig, testServer } from '../helpers.ts';

const BIND = JSON.stringify({
  operator_type: 1,
  token_accounts: [{ token: 't1', account_list: [{ account: 'alice' }] }],
});

const send = (server: Pick<TestServer, 'app'>, url: string, payload: string, headers: Record<string, string>) =>
  server.app.inject({ method: 'POST', url, payload, headers });

describe('Idempotency-Key', () => {
  it('the same key and body answer the stored result without applying again', async (t) => {
    const server = await testServer(t);
    const headers = { ...basic(server.tenant), 'idempotency-key': 'login-42' };
    const first = await send(server, BATCH, BIND, headers);
    await send(server, BATCH, JSON.stringify({ operator_type: 4, token_list: ['t1'] }), basic(server.tenant));
    const again = await send(server, BATCH, BIND, headers);
    assert.deepEqual(again.json(), first.json());
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.equal(again.headers['x-bindery-revision'], first.headers['x-bindery-revision']);
    const query = await send(
      server,
      QUERY,
      JSON.stringify({ operator_type: 2, token_list: ['t1'] }),
      basic(server.tenant),
    );
    assert.deepEqual(query.json().result, ['10110008'], 'the replay did not bind again');
  });

  it('refuses the same key with another body, and a malformed key', async (t) => {
    const server = await testServer(t);
    const headers = { ...basic(server.tenant), 'idempotency-key': 'k' };
    await send(server, BATCH, BIND, headers);
    const other = await send(server, BATCH, JSON.stringify({ operator_type: 4, token_list: ['t1'] }), headers);
    assert.equal(other.statusCode, 400);
    assert.equal(other.json().ret_code, 1008007);
    assert.match(other.json().err_msg, /^Idempotency-Key header: .*used with another body/);
    const bad = await send(server, BATCH, BIND, { ...basic(server.tenant), 'idempotency-key': 'has space' });
    assert.deepEqual(
      [bad.statusCode, bad.json().err_msg],
      [400, 'Idempotency-Key header: must be 1 to 255 visible ASCII characters'],
    );
  });
});

describe('Idempotency-Key on import', () => {
  it('answers the stored summary for the same body and refuses another body', async (t) => {
    const server = await testServer(t);
    const headers = { ...basic(server.tenant), 'idempotency-key': 'import-1', 'content-type': 'application/x-ndjson' };
    const body = '{"token":"t1","account":"alice"}\n{"token":"","account":"bob"}\n';
    const first = await send(server, '/api/v1/import', body, headers);
    assert.deepEqual([first.json().imported, first.json().failed], [1, 1]);
    await send(server, BATCH, JSON.stringify({ operator_type: 4, token_list: ['t1'] }), basic(server.tenant));
    const again = await send(server, '/api/v1/import', body, headers);
    assert.deepEqual(again.json(), first.json());
    const query = await send(
      server,
      QUERY,
      JSON.stringify({ operator_type: 2, token_list: ['t1'] }),
      basic(server.tenant),
    );
    assert.deepEqual(query.json().result, ['10110008'], 'the replay imported nothing again');
    const other = await send(server, '/api/v1/import', '{"token":"t2","account":"alice"}\n', headers);
    assert.deepEqual([other.statusCode, other.json().ret_code], [400, 1008007]);
    const batchSameKey = await send(server, BATCH, BIND, { ...basic(server.tenant), 'idempotency-key': 'import-1' });
    assert.equal(batchSameKey.statusCode, 200, 'import keys and batch keys are apart');
  });
});

describe('rate limits', () => {
  it('are off by default, and when set answer 1008028 with 429 and Retry-After, per app', async (t) => {
    const server = await testServer(t);
    for (let i = 0; i < 30; i++)
      assert.equal(
        (await send(server, QUERY, '{"operator_type":2,"token_list":["x"]}', basic(server.tenant))).statusCode,
        200,
      );
    const limited = await server.service.update(server.tenant.accessId, { rateLimit: { perSecond: 0.5, burst: 2 } });
    const other = await server.service.create({ name: 'other' });
    const codes = [];
    for (let i = 0; i < 3; i++)
      codes.push((await send(server, QUERY, '{"operator_type":2,"token_list":["x"]}', basic(limited!))).statusCode);
    assert.deepEqual(codes, [200, 200, 429]);
    const refused = await send(server, BATCH, BIND, basic(limited!));
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['retry-after'], '2');
    assert.deepEqual(refused.json(), {
      ret_code: 1008028,
      err_msg: 'rate limit exceeded: this app may send 0.5 requests per second; retry in 2 s',
      retCode: 1008028,
      errMsg: 'rate limit exceeded: this app may send 0.5 requests per second; retry in 2 s',
    });
    const query = await send(server, QUERY, JSON.stringify({ operator_type: 2, token_list: ['t1'] }), basic(other));
    assert.equal(query.statusCode, 200, 'another app has its own bucket');
  });
});

describe('metrics and OpenAPI', () => {
  it('/metrics counts requests by route and ret_code, times the store, and counts bindings per app when asked to', async (t) => {
    const server = await testServer(t, { metricsPerApp: true });
    await send(server, BATCH, BIND, basic(server.tenant));
    await send(server, BATCH, JSON.stringify({ operator_type: 4, token_list: ['none'] }), basic(server.tenant));
    await send(server, QUERY, '{}', {});
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(
      metrics,
      /bindery_http_requests_total\{method="POST",route="\/v3\/device\/account\/batchoperate",status="200",ret_code="0"\} 1/,
    );
    assert.match(
      metrics,
      /bindery_http_requests_total\{method="POST",route="\/v3\/device\/account\/batchoperate",status="200",ret_code="1008027"\} 1/,
    );
    assert.match(
      metrics,
      /bindery_http_requests_total\{method="POST",route="\/v3\/device\/account\/query",status="401",ret_code="1008003"\} 1/,
    );
    assert.match(
      metrics,
      /bindery_http_request_duration_seconds_count\{route="\/v3\/device\/account\/batchoperate",ret_code="0"\} 1/,
    );
    assert.match(metrics, /bindery_store_operation_duration_seconds_count\{operation="applyBatch",outcome="ok"\} 2/);
    assert.match(metrics, new RegExp(`bindery_bindings\\{access_id="${server.tenant.accessId}"\\} 1`));
  });

  it('/metrics names no AccessID by default, and asks for BINDERY_METRICS_TOKEN when it is set', async (t) => {
    const open = await testServer(t);
    await send(open, BATCH, BIND, basic(open.tenant));
    const metrics = (await open.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /bindery_http_requests_total/);
    assert.doesNotMatch(
      metrics,
      new RegExp(`bindery_bindings|${open.tenant.accessId}`),
      'no per-app series unless BINDERY_METRICS_PER_APP=true',
    );

    const token = 'metrics-token-0123456789';
    const guarded = await testServer(t, { metricsToken: token, metricsPerApp: true });
    const none = await guarded.app.inject({ method: 'GET', url: '/metrics' });
    assert.deepEqual(
      [none.statusCode, none.json().ret_code, none.headers['www-authenticate']],
      [401, 1008003, 'Bearer'],
    );
    assert.doesNotMatch(none.body, /bindery_/);
    assert.equal(
      (
        await guarded.app.inject({
          method: 'GET',
          url: '/metrics',
          headers: { authorization: 'Bearer wrong-token-0123456789' },
        })
      ).statusCode,
      401,
    );
    const ok = await guarded.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(ok.statusCode, 200);
    assert.match(ok.body, new RegExp(`bindery_bindings\\{access_id="${guarded.tenant.accessId}"\\} 0`));
  });

  it('/openapi.json describes every surface and /docs is served without any outside host', async (t) => {
    const server = await testServer(t, { adminToken: 'a'.repeat(32) });
    const spec = (await server.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    for (const path of [
      '/v3/device/account/batchoperate',
      '/v3/device/account/query',
      '/api/v1/history',
      '/api/v1/accounts/{account}/tokens',
      '/admin/v1/apps',
      '/admin/v1/apps/{accessId}',
      '/healthz',
      '/metrics',
    ]) {
      assert.ok(spec.paths[path], `${path} is documented`);
    }
    const batch = spec.paths['/v3/device/account/batchoperate']!.post as {
      requestBody: unknown;
      responses: Record<string, unknown>;
    };
    assert.ok(batch.requestBody && batch.responses['200'] && batch.responses['401']);
    const docs = await server.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /<html/i);
    const urls = [...docs.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(urls.length > 0);
    assert.ok(
      urls.every((u) => !/^(https?:)?\/\//.test(u)),
      `no outside host: ${urls.join(', ')}`,
    );
  });
});

describe('logs', () => {
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
    const app = await buildApp(testConfig({ adminToken }), store, {
      logger: { ...(loggerOptions('trace') as object), stream },
    });
    t.after(() => app.close());
    const tenant = await new AppService(store, 0).create({ name: 'x' });
    await app.inject({ method: 'POST', url: BATCH, payload: BIND, headers: basic(tenant) });
    const ts = String(Math.floor(Date.now() / 1000));
    const sign = tpnsSign(tenant.secretKey, ts + tenant.accessId, Buffer.from(BIND));
    await app.inject({
      method: 'POST',
      url: BATCH,
      payload: BIND,
      headers: { accessid: tenant.accessId, timestamp: ts, sign },
    });
    await app.inject({
      method: 'POST',
      url: BATCH,
      payload: BIND,
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
