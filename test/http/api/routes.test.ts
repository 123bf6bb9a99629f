/** /api/v1: bindings with metadata, and the history of changes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, basic, type TestServer, testServer } from '../../support/helpers.ts';

async function get(server: TestServer, url: string, headers = basic(server.tenant)) {
  const response = await server.app.inject({ method: 'GET', url, headers });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

async function batch(server: TestServer, body: unknown, headers: Record<string, string> = {}) {
  return server.app.inject({
    method: 'POST',
    url: BATCH,
    payload: JSON.stringify(body),
    headers: { ...basic(server.tenant), ...headers },
  });
}

describe('/api/v1 bindings', () => {
  it("lists an account's tokens and a token's accounts with bind time and platform", async (t) => {
    const server = await testServer(t);
    const before = Date.now();
    await batch(server, {
      operator_type: 1,
      platform: 'iOS',
      token_accounts: [{ token: 'phone', account_list: [{ account: 'alice', account_type: 2 }] }],
    });
    await batch(server, {
      operator_type: 1,
      token_accounts: [{ token: 'tablet', account_list: [{ account: 'alice', account_type: 2 }, { account: 'bob' }] }],
    });
    const tokens = await get(server, '/api/v1/accounts/alice/tokens?account_type=2');
    assert.equal(tokens.status, 200);
    assert.deepEqual(
      (tokens.body.tokens as { token: string; platform: string | null }[]).map((x) => [x.token, x.platform]),
      [
        ['phone', 'ios'],
        ['tablet', null],
      ],
    );
    const boundAt = Date.parse((tokens.body.tokens as { bound_at: string }[])[0]!.bound_at);
    assert.ok(boundAt >= before - 5 && boundAt <= Date.now(), 'bound_at is the bind instant');
    assert.deepEqual([tokens.body.ret_code, tokens.body.account, tokens.body.account_type], [0, 'alice', 2]);
    const accounts = await get(server, '/api/v1/tokens/tablet/accounts');
    assert.deepEqual(
      (accounts.body.accounts as { account: string; account_type: number }[]).map(
        (a) => `${a.account}/${a.account_type}`,
      ),
      ['alice/2', 'bob/0'],
    );
    const encoded = await get(server, `/api/v1/tokens/${encodeURIComponent('a/b c')}/accounts`);
    assert.deepEqual([encoded.status, encoded.body.token, encoded.body.accounts], [200, 'a/b c', []]);
  });

  it('refuses bad input with the TPNS codes and never shows another app', async (t) => {
    const server = await testServer(t);
    const other = await server.service.create({ name: 'other' });
    await batch(server, {
      operator_type: 1,
      token_accounts: [{ token: 'phone', account_list: [{ account: 'alice' }] }],
    });
    assert.deepEqual((await get(server, '/api/v1/accounts/alice/tokens', basic(other))).body.tokens, []);
    const short = await get(server, '/api/v1/accounts/a/tokens');
    assert.deepEqual(
      [short.status, short.body.ret_code, short.body.err_msg],
      [400, 1008007, 'account.account: must be longer than 1 byte, got the string "a"'],
    );
    const long = await get(server, `/api/v1/tokens/${'x'.repeat(65)}/accounts`);
    assert.deepEqual([long.status, long.body.ret_code], [400, 1008006]);
    const type = await get(server, '/api/v1/accounts/alice/tokens?account_type=-1');
    assert.deepEqual([type.status, type.body.ret_code], [400, 1008007]);
    assert.match(String(type.body.err_msg), /account_type/);
    assert.equal((await get(server, '/api/v1/accounts/alice/tokens', {})).status, 401);
  });
});

describe('/api/v1/history', () => {
  it('answers every cause there is, replaced (the tpns rules) included', async (t) => {
    const server = await testServer(t);
    await server.service.setPolicy(server.tenant.accessId, { bindingRules: 'tpns' });
    await batch(server, {
      operator_type: 1,
      token_accounts: [{ token: 'phone', account_list: [{ account: 'alice' }] }],
    });
    await batch(server, { operator_type: 1, token_accounts: [{ token: 'phone', account_list: [{ account: 'bob' }] }] });
    const all = await get(server, '/api/v1/history');
    assert.equal(all.status, 200);
    assert.deepEqual(
      (all.body.entries as Record<string, unknown>[]).map((e) => `${e.cause} ${e.account}`),
      ['bind bob', 'replaced alice', 'bind alice'],
    );
  });

  it('shows every change with cause, actor and request id, newest first, page by page', async (t) => {
    const server = await testServer(t);
    await server.service.setPolicy(server.tenant.accessId, { maxAccountsPerToken: 1 });
    await batch(
      server,
      {
        operator_type: 1,
        op_type: 'email',
        op_id: 'ops@example.com',
        token_accounts: [{ token: 'phone', account_list: [{ account: 'alice' }] }],
      },
      { 'x-request-id': 'login-1' },
    );
    await batch(server, { operator_type: 1, token_accounts: [{ token: 'phone', account_list: [{ account: 'bob' }] }] });
    await batch(server, { operator_type: 4, token_list: ['phone'] });
    const all = await get(server, '/api/v1/history');
    const entries = all.body.entries as Record<string, unknown>[];
    assert.deepEqual(
      entries.map((e) => `${e.operator_type} ${e.cause} ${e.token}/${e.account}`),
      ['4 token_reset phone/bob', '1 evicted phone/alice', '1 bind phone/bob', '1 bind phone/alice'],
    );
    assert.deepEqual(
      [entries[3]!.op_type, entries[3]!.op_id, entries[3]!.request_id, entries[3]!.account_type],
      ['email', 'ops@example.com', 'login-1', 0],
    );
    assert.equal(all.body.next_cursor, null);

    const page1 = await get(server, '/api/v1/history?account=alice&limit=1');
    assert.deepEqual(
      (page1.body.entries as { cause: string }[]).map((e) => e.cause),
      ['evicted'],
    );
    const page2 = await get(server, `/api/v1/history?account=alice&limit=1&cursor=${String(page1.body.next_cursor)}`);
    assert.deepEqual(
      (page2.body.entries as { cause: string }[]).map((e) => e.cause),
      ['bind'],
    );
    assert.equal(page2.body.next_cursor, null);
    assert.equal(((await get(server, '/api/v1/history?token=phone&account=bob')).body.entries as unknown[]).length, 2);

    assert.deepEqual(
      (await get(server, '/api/v1/history?cursor=nonsense')).body.err_msg,
      'cursor: not a next_cursor from a previous page',
    );
    assert.equal((await get(server, '/api/v1/history?account_type=3')).body.err_msg, 'account_type: only with account');
    const tooMany = await get(server, '/api/v1/history?limit=501');
    assert.deepEqual([tooMany.status, tooMany.body.ret_code], [400, 1008007]);
    assert.match(String(tooMany.body.err_msg), /limit/);
  });
});
