/** Idempotency-Key, rate limits, metrics, OpenAPI, and secrets kept out of the log. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, BIND_ONE, basic, QUERY, send, testServer } from '../support/helpers.ts';

describe('Idempotency-Key', () => {
  it('the same key and body answer the stored result without applying again', async (t) => {
    const server = await testServer(t);
    const headers = { ...basic(server.tenant), 'idempotency-key': 'login-42' };
    const first = await send(server, BATCH, BIND_ONE, headers);
    await send(server, BATCH, JSON.stringify({ operator_type: 4, token_list: ['t1'] }), basic(server.tenant));
    const again = await send(server, BATCH, BIND_ONE, headers);
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
    await send(server, BATCH, BIND_ONE, headers);
    const other = await send(server, BATCH, JSON.stringify({ operator_type: 4, token_list: ['t1'] }), headers);
    assert.equal(other.statusCode, 400);
    assert.equal(other.json().ret_code, 1008007);
    assert.match(other.json().err_msg, /^Idempotency-Key header: .*used with another body/);
    const bad = await send(server, BATCH, BIND_ONE, { ...basic(server.tenant), 'idempotency-key': 'has space' });
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
    const batchSameKey = await send(server, BATCH, BIND_ONE, {
      ...basic(server.tenant),
      'idempotency-key': 'import-1',
    });
    assert.equal(batchSameKey.statusCode, 200, 'import keys and batch keys are apart');
  });
});
