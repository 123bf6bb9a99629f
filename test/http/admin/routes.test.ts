/** The admin API: off without a token; apps, policies, secrets, webhooks and counts with one. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY } from '../../../src/model/types.ts';
import { BATCH, basic, QUERY, type TestServer, testServer } from '../../support/helpers.ts';

const TOKEN = 'test-admin-token-0123456789';

async function admin(
  server: TestServer,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
  token = TOKEN,
) {
  const response = await server.app.inject({
    method,
    url,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

describe('admin API', () => {
  it('does not exist without BINDERY_ADMIN_TOKEN', async (t) => {
    const server = await testServer(t, { adminToken: null });
    const response = await admin(server, 'GET', '/admin/v1/apps');
    assert.equal(response.status, 404);
  });

  it('refuses a missing or wrong bearer token', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const none = await server.app.inject({ method: 'GET', url: '/admin/v1/apps' });
    assert.deepEqual(
      [none.statusCode, none.json().ret_code, none.headers['www-authenticate']],
      [401, 1008003, 'Bearer'],
    );
    assert.equal((await admin(server, 'GET', '/admin/v1/apps', undefined, 'wrong-token-xxxxxxxxxx')).status, 401);
    const tenantCredentials = await server.app.inject({
      method: 'GET',
      url: '/admin/v1/apps',
      headers: basic(server.tenant),
    });
    assert.equal(tenantCredentials.statusCode, 401, "an app's credentials are not admin credentials");
  });

  it('creates, lists with counts, shows, changes, rotates and deletes apps', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const created = await admin(server, 'POST', '/admin/v1/apps', { name: 'shop', max_accounts_per_token: 1 });
    assert.equal(created.status, 201);
    assert.match(String(created.body.secret_key), /^[0-9a-f]{32}$/);
    const id = String(created.body.access_id);
    const credentials = { accessId: id, secretKey: String(created.body.secret_key) };
    await server.app.inject({
      method: 'POST',
      url: BATCH,
      headers: basic(credentials),
      payload: JSON.stringify({
        operator_type: 1,
        token_accounts: [
          { token: 't1', account_list: [{ account: 'alice' }] },
          { token: 't2', account_list: [{ account: 'alice' }] },
        ],
      }),
    });

    const list = await admin(server, 'GET', '/admin/v1/apps');
    const listed = (list.body.apps as Record<string, unknown>[]).find((a) => a.access_id === id)!;
    assert.deepEqual([listed.bindings, listed.tokens, listed.accounts, listed.secret_key], [2, 2, 1, undefined]);

    const changed = await admin(server, 'PATCH', `/admin/v1/apps/${id}`, {
      name: 'shop-2',
      max_tokens_per_account: 5,
      rate_limit: { per_second: 10, burst: 20 },
      webhook: { url: 'https://hooks.example.com/bindery' },
    });
    assert.equal(changed.status, 200);
    assert.deepEqual(
      [
        changed.body.name,
        changed.body.max_tokens_per_account,
        changed.body.max_accounts_per_token,
        changed.body.rate_limit_per_second,
        changed.body.rate_limit_burst,
        changed.body.webhook_url,
      ],
      ['shop-2', 5, 1, 10, 20, 'https://hooks.example.com/bindery'],
    );
    assert.match(String(changed.body.webhook_secret), /^whsec_[0-9a-f]{48}$/, 'the webhook secret is answered once');
    const shown = await admin(server, 'GET', `/admin/v1/apps/${id}`);
    assert.equal(shown.body.webhook_secret, undefined);
    assert.equal(shown.body.secret_key, undefined);
    const off = await admin(server, 'PATCH', `/admin/v1/apps/${id}`, { rate_limit: null, webhook: null });
    assert.deepEqual([off.body.rate_limit_per_second, off.body.webhook_url], [null, null]);

    const rotated = await admin(server, 'POST', `/admin/v1/apps/${id}/rotate-secret`, { grace_seconds: 0 });
    assert.notEqual(rotated.body.secret_key, credentials.secretKey);
    const old = await server.app.inject({
      method: 'POST',
      url: QUERY,
      headers: basic(credentials),
      payload: '{"operator_type":2,"token_list":["t1"]}',
    });
    assert.equal(old.statusCode, 401, 'no grace asked: the old secret stops at once');

    assert.deepEqual((await admin(server, 'GET', `/admin/v1/apps/${id}/webhook-deliveries`)).body, { deliveries: [] });
    assert.deepEqual((await admin(server, 'DELETE', `/admin/v1/apps/${id}`)).body, { access_id: id, deleted: true });
    assert.equal((await admin(server, 'GET', `/admin/v1/apps/${id}`)).status, 404);
  });

  it("looks up any app's bindings and history, and unbinds one, recorded as the console", async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const id = server.tenant.accessId;
    await server.app.inject({
      method: 'POST',
      url: BATCH,
      headers: basic(server.tenant),
      payload: JSON.stringify({
        operator_type: 1,
        token_accounts: [{ token: 'phone', account_list: [{ account: 'alice', account_type: 1 }] }],
      }),
    });
    const tokens = await admin(server, 'GET', `/admin/v1/apps/${id}/accounts/alice/tokens?account_type=1`);
    assert.deepEqual(
      (tokens.body.tokens as { token: string }[]).map((x) => x.token),
      ['phone'],
    );
    const accounts = await admin(server, 'GET', `/admin/v1/apps/${id}/tokens/phone/accounts`);
    assert.deepEqual(
      (accounts.body.accounts as { account: string }[]).map((x) => x.account),
      ['alice'],
    );
    const unbound = await admin(server, 'POST', `/admin/v1/apps/${id}/unbind`, {
      token: 'phone',
      account: 'alice',
      account_type: 1,
    });
    assert.deepEqual([unbound.body.ret_code, unbound.body.result], [0, '0']);
    const again = await admin(server, 'POST', `/admin/v1/apps/${id}/unbind`, {
      token: 'phone',
      account: 'alice',
      account_type: 1,
    });
    assert.deepEqual([again.body.ret_code, again.body.err_msg], [10110008, 'this account is not bound to this token']);
    const history = await admin(server, 'GET', `/admin/v1/apps/${id}/history?token=phone`);
    assert.deepEqual(
      (history.body.entries as { cause: string; op_type: string | null }[]).map((e) => [e.cause, e.op_type]),
      [
        ['unbind', 'console'],
        ['bind', null],
      ],
    );
    assert.equal((await admin(server, 'GET', '/admin/v1/apps/1599999999/history')).status, 404);
    assert.equal((await admin(server, 'GET', `/admin/v1/apps/${id}/accounts/a/tokens`)).body.ret_code, 1008007);
  });

  it('answers bad input with 1008007 and says what is wrong', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const id = server.tenant.accessId;
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/admin/v1/apps', {}, 400, /name/],
      [
        'POST',
        '/admin/v1/apps',
        { name: 'x', secret_key: 'NOPE', access_id: '1500000001' },
        400,
        /SecretKey must be 32 lowercase hex/,
      ],
      ['POST', '/admin/v1/apps', { name: 'x', access_id: id, secret_key: 'a'.repeat(32) }, 409, /already exists/],
      [
        'PATCH',
        `/admin/v1/apps/${id}`,
        { max_accounts_per_token: 0 },
        400,
        /max_accounts_per_token must be a whole number from 1 to 1000/,
      ],
      [
        'PATCH',
        `/admin/v1/apps/${id}`,
        { rate_limit: { per_second: -1, burst: 1 } },
        400,
        /rate_limit.per_second must be a number/,
      ],
      ['PATCH', `/admin/v1/apps/${id}`, { webhook: { url: 'ftp://x' } }, 400, /webhook url must be an http/],
      ['PATCH', `/admin/v1/apps/${id}`, { colour: 'blue' }, 400, /colour|additional/],
      ['PATCH', '/admin/v1/apps/1599999999', { name: 'x' }, 404, /no app with AccessID 1599999999/],
    ];
    for (const [method, url, body, status, message] of cases) {
      const response = await admin(server, method as 'POST', url, body);
      assert.equal(
        response.status,
        status,
        `${method} ${url} ${JSON.stringify(body)}: ${JSON.stringify(response.body)}`,
      );
      assert.equal(response.body.ret_code, status === 404 || status === 409 || status === 400 ? 1008007 : 0);
      assert.match(String(response.body.err_msg), message);
    }
    const notJson = await server.app.inject({
      method: 'POST',
      url: '/admin/v1/apps',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: '{oops',
    });
    assert.deepEqual([notJson.statusCode, notJson.json().ret_code], [400, 1008001]);
    assert.deepEqual((await server.service.show(id))?.policy, DEFAULT_POLICY, 'nothing changed');
  });

  it('refuses a webhook URL on loopback, link-local or private hosts unless BINDERY_WEBHOOK_ALLOW_PRIVATE', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const id = server.tenant.accessId;
    for (const url of [
      'http://127.0.0.1:8080/admin/v1/apps',
      'http://localhost/',
      'http://[::1]/',
      'http://169.254.169.254/latest/meta-data',
      'http://10.0.0.5/',
      'http://[::ffff:192.168.0.1]/',
      'http://0x7f.1/',
      'http://api.localhost/',
    ]) {
      const refused = await admin(server, 'PATCH', `/admin/v1/apps/${id}`, { webhook: { url } });
      assert.deepEqual([refused.status, refused.body.ret_code], [400, 1008007], url);
      assert.match(
        String(refused.body.err_msg),
        /(loopback, link-local or private address|is this machine); set BINDERY_WEBHOOK_ALLOW_PRIVATE=true/,
        url,
      );
    }
    assert.equal((await server.service.show(id))?.webhook, null, 'nothing was set');
    assert.equal(
      (await admin(server, 'PATCH', `/admin/v1/apps/${id}`, { webhook: { url: 'https://8.8.8.8/hook' } })).status,
      200,
    );

    const onPremises = await testServer(t, { adminToken: TOKEN, webhookAllowPrivate: true });
    const allowed = await admin(onPremises, 'PATCH', `/admin/v1/apps/${onPremises.tenant.accessId}`, {
      webhook: { url: 'http://10.0.0.5/hook' },
    });
    assert.deepEqual([allowed.status, allowed.body.webhook_url], [200, 'http://10.0.0.5/hook']);
  });

  it('does not let a second rotation cut off a secret still in its grace period, unless told to', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const id = server.tenant.accessId;
    const original = server.tenant;
    const query = (credentials: { accessId: string; secretKey: string }) =>
      server.app.inject({
        method: 'POST',
        url: QUERY,
        headers: basic(credentials),
        payload: '{"operator_type":2,"token_list":["t1"]}',
      });
    const first = await admin(server, 'POST', `/admin/v1/apps/${id}/rotate-secret`, { grace_seconds: 3600 });
    assert.equal(first.status, 200);
    const second = await admin(server, 'POST', `/admin/v1/apps/${id}/rotate-secret`, { grace_seconds: 3600 });
    assert.deepEqual([second.status, second.body.ret_code], [409, 1008007]);
    assert.match(
      String(second.body.err_msg),
      /still works until \d{4}-\d\d-\d\dT[\d:.]+Z \(its grace period\).*rotate after .*end_previous_grace: true/,
    );
    assert.equal((await query(original)).statusCode, 200, 'the original secret still works');
    assert.equal(
      (await query({ accessId: id, secretKey: String(first.body.secret_key) })).statusCode,
      200,
      'and the current one',
    );

    const forced = await admin(server, 'POST', `/admin/v1/apps/${id}/rotate-secret`, {
      grace_seconds: 3600,
      end_previous_grace: true,
    });
    assert.equal(forced.status, 200);
    assert.equal((await query(original)).statusCode, 401, 'told to: the original secret stops now');
    assert.equal(
      (await query({ accessId: id, secretKey: String(first.body.secret_key) })).statusCode,
      200,
      'the one rotated out now has its grace',
    );
  });

  it('slows down a client that keeps failing (429 after a growing delay), and never refuses the right token', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const from = (remoteAddress: string, token: string) =>
      server.app.inject({
        method: 'GET',
        url: '/admin/v1/apps',
        remoteAddress,
        headers: { authorization: `Bearer ${token}` },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await from('203.0.113.7', `guess-${i}-xxxxxxxxxxxx`)).statusCode);
    assert.deepEqual(statuses, Array<number>(10).fill(401));
    // Past the allowance: 429, answered only after a delay (250 ms, then 500 ms, ...).
    const held: number[] = [];
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      const blocked = await from('203.0.113.7', `guess-more-${i}-xxxxxxxxx`);
      held.push(performance.now() - started);
      assert.deepEqual(
        [blocked.statusCode, blocked.json().ret_code, Number(blocked.headers['retry-after']) > 0],
        [429, 1008028, true],
      );
    }
    assert.ok(held[0]! >= 240 && held[1]! >= 490, `the failing client was held ${held.map(Math.round).join(', ')} ms`);
    // Someone else behind the same address (a NAT, a proxy) with the right token is let in at once.
    assert.equal((await from('203.0.113.7', TOKEN)).statusCode, 200, 'the right token is never refused');
    assert.equal(
      (await from('203.0.113.8', `guess-x-xxxxxxxxxxxx`)).statusCode,
      401,
      'another address has its own allowance',
    );
  });

  it('behind a proxy named in BINDERY_TRUST_PROXY, each client behind it has its own allowance', async (t) => {
    const attempt = (server: TestServer, client: string) =>
      server.app.inject({
        method: 'GET',
        url: '/admin/v1/apps',
        remoteAddress: '10.0.0.5',
        headers: { authorization: 'Bearer guess-xxxxxxxxxxxxxxxx', 'x-forwarded-for': client },
      });
    const trusted = await testServer(t, { adminToken: TOKEN, trustProxy: ['10.0.0.0/24'] });
    const untrusted = await testServer(t, { adminToken: TOKEN });
    const results: Record<string, number[]> = {};
    for (const [name, server] of [
      ['trusted', trusted],
      ['untrusted', untrusted],
    ] as const) {
      for (let i = 0; i < 10; i++) await attempt(server, '198.51.100.1');
      results[name] = [
        (await attempt(server, '198.51.100.1')).statusCode,
        (await attempt(server, '198.51.100.2')).statusCode,
      ];
    }
    assert.deepEqual(results.trusted, [429, 401], 'the proxy is trusted: the second client has its own allowance');
    assert.deepEqual(results.untrusted, [429, 429], 'not trusted: everyone behind it is one address');
  });

  it('sets and shows binding_rules on create and patch, and refuses other values', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const created = await admin(server, 'POST', '/admin/v1/apps', { name: 'moving', binding_rules: 'tpns' });
    assert.deepEqual([created.status, created.body.binding_rules], [201, 'tpns']);
    const id = String(created.body.access_id);
    const credentials = { accessId: id, secretKey: String(created.body.secret_key) };
    const bind = (account: string) =>
      server.app.inject({
        method: 'POST',
        url: BATCH,
        headers: basic(credentials),
        payload: JSON.stringify({
          operator_type: 1,
          token_accounts: [{ token: 'phone', account_list: [{ account }] }],
        }),
      });
    await bind('alice');
    await bind('bob');
    const owners = await server.app.inject({
      method: 'POST',
      url: QUERY,
      headers: basic(credentials),
      payload: '{"operator_type":2,"token_list":["phone"]}',
    });
    assert.deepEqual(owners.json().token_accounts, [
      { token: 'phone', account_list: [{ account: 'bob', account_type: 0 }] },
    ]);
    const listed = (await admin(server, 'GET', '/admin/v1/apps')).body.apps as {
      access_id: string;
      binding_rules: string;
    }[];
    assert.equal(listed.find((a) => a.access_id === id)?.binding_rules, 'tpns');
    const patched = await admin(server, 'PATCH', `/admin/v1/apps/${id}`, { binding_rules: 'append' });
    assert.deepEqual([patched.status, patched.body.binding_rules], [200, 'append']);
    const wrong = await admin(server, 'PATCH', `/admin/v1/apps/${id}`, { binding_rules: 'latest' });
    assert.deepEqual([wrong.status, wrong.body.ret_code], [400, 1008007]);
    assert.match(String(wrong.body.err_msg), /binding_rules/);
    assert.equal(
      (await admin(server, 'GET', `/admin/v1/apps/${id}`)).body.binding_rules,
      'append',
      'a refused patch changed nothing',
    );
  });
});
