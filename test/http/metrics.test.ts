/** Idempotency-Key, rate limits, metrics, OpenAPI, and secrets kept out of the log. */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { retCodeOf } from '../../src/http/metrics.ts';
import { BATCH, BIND_ONE, basic, QUERY, send, testServer } from '../support/helpers.ts';

describe('metrics and OpenAPI', () => {
  it('reads the ret_code a TPNS answer starts with, and nothing from other bodies', () => {
    assert.equal(retCodeOf('{"ret_code":0,"err_msg":"ok"}'), '0');
    assert.equal(retCodeOf('{"ret_code":1008003,"err_msg":"auth"}'), '1008003');
    assert.equal(retCodeOf('{"ret_code":-1,"err_msg":"x"}'), '-1');
    assert.equal(retCodeOf('{"ret_code":"0"}'), '');
    assert.equal(retCodeOf('{"ret_code":-}'), '');
    assert.equal(retCodeOf('{"ret_code":'), '');
    assert.equal(retCodeOf('{"status":"ok","ret_code":0}'), '');
    assert.equal(retCodeOf('# HELP bindery'), '');
  });

  it('/metrics counts requests by route and ret_code, times the store, and counts bindings per app when asked to', async (t) => {
    const server = await testServer(t, { metricsPerApp: true });
    await send(server, BATCH, BIND_ONE, basic(server.tenant));
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
    assert.match(metrics, /bindery_store_operation_duration_seconds_count\{operation="runBatch",outcome="ok"\} 2/);
    assert.match(metrics, new RegExp(`bindery_bindings\\{access_id="${server.tenant.accessId}"\\} 1`));
  });

  it('/metrics tells whether the store answers, the webhook backlog and the data disk; a store gone reads 0, the scrape still answers', async (t) => {
    const server = await testServer(t);
    const scrape = async () => {
      const answer = await server.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(answer.statusCode, 200);
      return answer.body;
    };
    const value = (metrics: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    let metrics = await scrape();
    assert.equal(value(metrics, 'bindery_store_up'), 1);
    assert.equal(value(metrics, 'bindery_webhook_pending_events'), 0);
    assert.equal(value(metrics, 'bindery_webhook_oldest_pending_age_seconds'), 0);
    const free = value(metrics, 'bindery_data_disk_free_bytes');
    assert.ok(free > 0 && free <= value(metrics, 'bindery_data_disk_size_bytes'), metrics);

    await server.store.updateApp(server.tenant.accessId, { webhook: { url: 'http://127.0.0.1:9/hook', secret: 's' } });
    await send(server, BATCH, BIND_ONE, basic(server.tenant));
    await new Promise((r) => setTimeout(r, 1100));
    metrics = await scrape();
    assert.equal(value(metrics, 'bindery_webhook_pending_events'), 1, 'the binding.created event waits');
    assert.ok(value(metrics, 'bindery_webhook_oldest_pending_age_seconds') >= 1, metrics);

    rmSync(join(server.config.dataDir, 'bindery.db'));
    metrics = await scrape();
    assert.equal(value(metrics, 'bindery_store_up'), 0, 'the database file is gone: the store refuses writes');
  });

  it('/metrics names no AccessID by default, and asks for BINDERY_METRICS_TOKEN when it is set', async (t) => {
    const open = await testServer(t);
    await send(open, BATCH, BIND_ONE, basic(open.tenant));
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
