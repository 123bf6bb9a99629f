/** The vendor documents' samples, sent exactly as written, get answers of the documented shapes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, basic, post, QUERY, type TestServer, testServer } from '../../support/helpers.ts';
import * as seed from '../../support/seed-samples.ts';

/**
 * Keeps only the keys the documented sample shows, so extra fields we add (both spellings, account_type) do not hide a
 * difference.
 */
function documentedPart(actual: unknown, documented: unknown): unknown {
  if (Array.isArray(documented) && Array.isArray(actual))
    return actual.map((x, i) => documentedPart(x, documented[i] ?? documented[0]));
  if (documented && typeof documented === 'object' && actual && typeof actual === 'object') {
    return Object.fromEntries(
      Object.keys(documented).map((k) => [
        k,
        documentedPart((actual as Record<string, unknown>)[k], (documented as Record<string, unknown>)[k]),
      ]),
    );
  }
  return actual;
}

const send = (server: TestServer, path: string, raw: string) =>
  post(server, path, raw, { ...basic(server.tenant), 'content-type': 'application/json' });

describe('seed samples (XG Account API v3 page)', () => {
  it('bind, query accounts, override, unbind, token reset and account reset work as written', async (t) => {
    const server = await testServer(t);
    const bound = await send(server, BATCH, seed.XG_BIND);
    assert.deepEqual(bound.body, { ret_code: 0, err_msg: 'ok', retCode: 0, errMsg: 'ok', result: ['0', '0'] });

    const accounts = await send(server, QUERY, seed.XG_QUERY_ACCOUNTS);
    assert.equal(accounts.status, 200);
    assert.deepEqual(
      documentedPart(accounts.body, JSON.parse(seed.XG_QUERY_ACCOUNTS_RETURN)),
      JSON.parse(seed.XG_QUERY_ACCOUNTS_RETURN),
    );

    assert.deepEqual((await send(server, BATCH, seed.XG_OVERRIDE)).body.result, ['0', '0']);
    assert.deepEqual((await send(server, BATCH, seed.XG_UNBIND)).body.result, ['0', '0']);
    const afterUnbind = await send(server, QUERY, seed.XG_QUERY_ACCOUNTS);
    assert.deepEqual(afterUnbind.body.result, ['10110008', '10110008']);

    await send(server, BATCH, seed.XG_BIND);
    const reset = await send(server, BATCH, seed.XG_TOKEN_RESET);
    assert.equal(reset.body.ret_code, 1008026, 'token3 was never bound');
    assert.deepEqual(reset.body.result, ['0', '0', '10110008']);

    await send(server, BATCH, seed.XG_BIND);
    assert.deepEqual((await send(server, BATCH, seed.XG_ACCOUNT_RESET)).body.result, ['0', '0']);
    const left = await send(server, QUERY, seed.XG_QUERY_ACCOUNTS);
    assert.deepEqual(left.body.token_accounts, [
      { token: 'token1', account_list: [] },
      {
        token: 'token2',
        account_list: [
          { account: '926@163.com', account_type: 2 },
          { account: '1527000001', account_type: 1 },
        ],
      },
    ]);
  });

  it('query tokens by account answers the documented return', async (t) => {
    const server = await testServer(t);
    const binding = {
      operator_type: 1,
      token_accounts: [
        { token: 'token1', account_list: [{ account: 'account1', account_type: 1 }] },
        {
          token: 'token2',
          account_list: [
            { account: 'account1', account_type: 1 },
            { account: 'account2', account_type: 2 },
          ],
        },
        { token: 'token3', account_list: [{ account: 'account2', account_type: 2 }] },
      ],
    };
    assert.equal((await post(server, BATCH, binding, basic(server.tenant))).body.ret_code, 0);
    const response = await send(server, QUERY, seed.XG_QUERY_TOKENS);
    const documented = JSON.parse(seed.XG_QUERY_TOKENS_RETURN);
    assert.deepEqual(documentedPart(response.body, documented), documented);
  });
});

describe('seed samples (TPNS batchoperate and query pages)', () => {
  it('all five batchoperate samples work as written', async (t) => {
    const server = await testServer(t);
    assert.deepEqual((await send(server, BATCH, seed.TPNS_BIND)).body, {
      ret_code: 0,
      err_msg: 'ok',
      retCode: 0,
      errMsg: 'ok',
      result: ['0', '0'],
    });
    const accounts = await send(server, QUERY, seed.TPNS_QUERY_ACCOUNTS);
    const documented = JSON.parse(seed.TPNS_QUERY_ACCOUNTS_RETURN);
    assert.deepEqual(documentedPart(accounts.body, documented), documented);
    assert.deepEqual((await send(server, BATCH, seed.TPNS_OVERRIDE)).body.result, ['0', '0']);
    assert.deepEqual((await send(server, BATCH, seed.TPNS_UNBIND)).body.result, ['0', '0']);
    await send(server, BATCH, seed.TPNS_BIND);
    assert.deepEqual((await send(server, BATCH, seed.TPNS_TOKEN_RESET)).body.result, ['0', '0', '10110008']);
    await send(server, BATCH, seed.TPNS_BIND);
    assert.deepEqual((await send(server, BATCH, seed.TPNS_ACCOUNT_RESET)).body.result, ['0', '0']);
  });

  it('the query-by-account sample answers the documented return', async (t) => {
    const server = await testServer(t);
    const binding = {
      operator_type: 1,
      token_accounts: [
        { token: 'token1', account_list: [{ account: 'account1' }] },
        { token: 'token2', account_list: [{ account: 'account1' }, { account: 'account2' }] },
        { token: 'token3', account_list: [{ account: 'account2' }] },
      ],
    };
    await post(server, BATCH, binding, basic(server.tenant));
    const response = await send(server, QUERY, seed.TPNS_QUERY_TOKENS);
    const documented = JSON.parse(seed.TPNS_QUERY_TOKENS_RETURN);
    assert.deepEqual(documentedPart(response.body, documented), documented);
    assert.equal(response.body.ret_code, 0, 'both spellings are present');
  });
});

describe('seed samples under the tpns binding rules (TPNS since 2020-10-26)', () => {
  it('the samples answer as TPNS does today: op 1 overrides, one account per account_type', async (t) => {
    const server = await testServer(t);
    await server.service.setPolicy(server.tenant.accessId, { bindingRules: 'tpns' });
    // The TPNS page's bind sample lists two accounts per token, both of type 0 (no account_type):
    // today only the later one of each stays bound (the page's sample answer predates the change).
    assert.deepEqual((await send(server, BATCH, seed.TPNS_BIND)).body.result, ['0', '0']);
    const accounts = await send(server, QUERY, seed.TPNS_QUERY_ACCOUNTS);
    assert.deepEqual(accounts.body.token_accounts, [
      { token: 'token1', account_list: [{ account: '1527000000', account_type: 0 }] },
      { token: 'token2', account_list: [{ account: '1527000001', account_type: 0 }] },
    ]);
    // The XG page's sample gives each account its own type: both stay.
    assert.deepEqual((await send(server, BATCH, seed.XG_BIND)).body.result, ['0', '0']);
    const xg = await send(server, QUERY, seed.XG_QUERY_ACCOUNTS);
    assert.deepEqual(
      documentedPart(xg.body, JSON.parse(seed.XG_QUERY_ACCOUNTS_RETURN)),
      JSON.parse(seed.XG_QUERY_ACCOUNTS_RETURN),
    );

    // The query-by-account sample's data binds token2 to account1 and account2, both of type 0:
    // today's TPNS keeps the later one only, and a later op 1 on token1 replaces its account.
    const binding = {
      operator_type: 1,
      token_accounts: [
        { token: 'token1', account_list: [{ account: 'account1' }] },
        { token: 'token2', account_list: [{ account: 'account1' }, { account: 'account2' }] },
        { token: 'token3', account_list: [{ account: 'account2' }] },
      ],
    };
    assert.deepEqual((await post(server, BATCH, binding, basic(server.tenant))).body.result, ['0', '0', '0']);
    const tokens = await send(server, QUERY, seed.TPNS_QUERY_TOKENS);
    assert.deepEqual(tokens.body.account_tokens, [
      { account: 'account1', account_type: 0, token_list: ['token1'] },
      { account: 'account2', account_type: 0, token_list: ['token2', 'token3'] },
    ]);
    await post(
      server,
      BATCH,
      { operator_type: 1, token_accounts: [{ token: 'token1', account_list: [{ account: 'account2' }] }] },
      basic(server.tenant),
    );
    const moved = await send(server, QUERY, seed.TPNS_QUERY_TOKENS);
    assert.deepEqual(
      (moved.body.account_tokens as { token_list: string[] }[]).map((a) => a.token_list),
      [[], ['token2', 'token3', 'token1']],
    );
    assert.deepEqual(moved.body.result, ['10110008', '0']);
  });
});
