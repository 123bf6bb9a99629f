/** Idempotency-Key, rate limits, metrics, OpenAPI, and secrets kept out of the log. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, BIND_ONE, basic, QUERY, send, testServer } from '../support/helpers.ts';

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
    const refused = await send(server, BATCH, BIND_ONE, basic(limited!));
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
