/** /api/v1/feedback, /api/v1/tokens/seen and /api/v1/tokens/{token}/restore, through the HTTP edge. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, basic, post, QUERY, statusOf, type TestServer, testServer } from '../../support/helpers.ts';

const FEEDBACK = '/api/v1/feedback';
const SEEN = '/api/v1/tokens/seen';

async function bind(server: TestServer, token: string, ...accounts: string[]) {
  const answer = await post(
    server,
    BATCH,
    { operator_type: 1, token_accounts: [{ token, account_list: accounts.map((account) => ({ account })) }] },
    basic(server.tenant),
  );
  assert.equal(answer.body.ret_code, 0);
}

async function accountsOf(server: TestServer, token: string): Promise<string[]> {
  const answer = await post(server, QUERY, { operator_type: 2, token_list: [token] }, basic(server.tenant));
  const [entry] = answer.body.token_accounts as { account_list: { account: string }[] }[];
  return entry!.account_list.map((a) => a.account);
}

/** The outcomes without their messages. */
const outcomes = (body: Record<string, unknown>) =>
  (body.outcomes as Record<string, unknown>[]).map(({ err_msg: _, ...rest }) => rest);

async function get(server: TestServer, url: string) {
  const response = await server.app.inject({ method: 'GET', url, headers: basic(server.tenant) });
  return response.json() as Record<string, unknown>;
}

describe('/api/v1/feedback', () => {
  it('quarantines dead tokens, counts transient answers, refuses unknown ones, item by item', async (t) => {
    const server = await testServer(t);
    await bind(server, 'dead-ios', 'alice', 'bob');
    await bind(server, 'busy', 'alice');
    await bind(server, 'dead-web', 'carol');
    const answer = await post(
      server,
      FEEDBACK,
      {
        items: [
          { token: 'dead-ios', provider: 'apns', reason: 'Unregistered', status: 410 },
          { token: 'busy', provider: 'fcm', reason: 'QUOTA_EXCEEDED', status: 429 },
          { token: 'busy', provider: 'apns', reason: 'BadTopic', status: 400 },
          { token: 'dead-web', provider: 'webpush', status: 410 },
          { token: 'never-bound', provider: 'fcm', reason: 'UNREGISTERED' },
          { token: 'busy', provider: 'telegram', reason: 'gone' },
        ],
      },
      basic(server.tenant),
    );
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.result, ['0', '0', '1008007', '0', '10110008', '1008007']);
    assert.deepEqual(outcomes(answer.body), [
      { class: 'invalid', action: 'quarantined' },
      { class: 'transient', action: 'counted' },
      { class: 'unknown', action: 'refused' },
      { class: 'invalid', action: 'quarantined' },
      { class: 'invalid', action: 'no_binding' },
      { class: null, action: 'refused' },
    ]);
    assert.equal(answer.body.ret_code, 1008026);
    assert.match(
      String((answer.body.outcomes as { err_msg?: string }[])[2]!.err_msg),
      /^items\[2\]: apns answer with reason "BadTopic"/,
      'each failed item says why',
    );
    const message = String(answer.body.err_msg);
    assert.match(message, /^3 of 6 items failed, the others were applied: /);
    assert.match(
      message,
      /items\[2\]: apns answer with reason "BadTopic" and status 400 is not one bindery classifies/,
    );
    assert.match(message, /send reason one of Unregistered, BadDeviceToken/);
    assert.match(message, /items\[4\]\.token: the token has no bindings/);
    assert.match(message, /items\[5\]\.provider: must be one of apns, fcm, hms, expo, webpush/);

    // Left out of both query ops, kept with their reason for those who ask.
    assert.deepEqual(await accountsOf(server, 'dead-ios'), []);
    assert.deepEqual(await accountsOf(server, 'busy'), ['alice']);
    const tokens = await post(
      server,
      QUERY,
      { operator_type: 1, account_list: [{ account: 'alice' }] },
      basic(server.tenant),
    );
    assert.deepEqual((tokens.body.account_tokens as { token_list: string[] }[])[0]!.token_list, ['busy']);
    assert.deepEqual((await get(server, '/api/v1/tokens/dead-ios/accounts')).accounts, []);
    const shown = await get(server, '/api/v1/tokens/dead-ios/accounts?include=quarantined');
    const accounts = shown.accounts as { account: string; state: string; quarantine_reason: string }[];
    assert.deepEqual(
      accounts.map((a) => [a.account, a.state, a.quarantine_reason]),
      [
        ['alice', 'quarantined', 'apns: Unregistered (410)'],
        ['bob', 'quarantined', 'apns: Unregistered (410)'],
      ],
    );
    const alice = await get(server, '/api/v1/accounts/alice/tokens?include=quarantined');
    assert.deepEqual(
      (alice.tokens as { token: string; state: string }[]).map((x) => `${x.token} ${x.state}`),
      ['dead-ios quarantined', 'busy active'],
    );
    const history = await get(server, '/api/v1/history?token=dead-ios');
    assert.deepEqual(
      (history.entries as { cause: string; operator_type: number; account: string }[]).map(
        (e) => `${e.operator_type} ${e.cause} ${e.account}`,
      ),
      ['0 quarantined bob', '0 quarantined alice', '1 bind bob', '1 bind alice'],
    );
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /bindery_feedback_total\{provider="apns",class="invalid"\} 1/);
    assert.match(metrics, /bindery_feedback_total\{provider="apns",class="unknown"\} 1/);
    assert.match(metrics, /bindery_feedback_total\{provider="fcm",class="transient"\} 1/);
  });

  it('keeps a token bound again after the answer: the device came back', async (t) => {
    const server = await testServer(t);
    const answeredAt = Date.now() - 60_000;
    await bind(server, 'phone', 'alice');
    const answer = await post(
      server,
      FEEDBACK,
      { items: [{ token: 'phone', provider: 'fcm', reason: 'UNREGISTERED', at: answeredAt }] },
      basic(server.tenant),
    );
    assert.deepEqual(outcomes(answer.body), [{ class: 'invalid', action: 'stale' }]);
    assert.deepEqual(await accountsOf(server, 'phone'), ['alice']);
    const later = await post(
      server,
      FEEDBACK,
      { items: [{ token: 'phone', provider: 'fcm', reason: 'unregistered', at: new Date().toISOString() }] },
      basic(server.tenant),
    );
    assert.deepEqual(outcomes(later.body), [{ class: 'invalid', action: 'quarantined' }], 'reasons match in any case');
  });

  it('refuses a bad request whole, with the TPNS code and where, and changes nothing', async (t) => {
    const server = await testServer(t);
    await bind(server, 'phone', 'alice');
    const cases: [unknown, number, RegExp][] = [
      [{}, 1008002, /^items: required/],
      [{ items: 'x' }, 1008007, /^items: must be an array/],
      [{ items: [] }, 1008002, /^items: must not be empty/],
      [
        { items: Array(1001).fill({ token: 'phone', provider: 'fcm', reason: 'UNREGISTERED' }) },
        1008007,
        /at most 1000/,
      ],
      ['[', 1008001, /not valid JSON/],
    ];
    for (const [body, code, message] of cases) {
      const answer = await post(server, FEEDBACK, body, basic(server.tenant));
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.ret_code, code);
      assert.match(String(answer.body.err_msg), message);
    }
    const items = [
      { token: 'phone', provider: 'fcm', reason: 'UNREGISTERED', at: Date.now() + 3_600_000 },
      { token: 'phone', provider: 'fcm', reason: 'x'.repeat(101) },
      { token: 'phone', provider: 'fcm', status: 99 },
      { token: 'phone', provider: 'fcm' },
      { token: 'phone', provider: 'apns', reason: 'Unregistered\u0000' },
    ];
    const answer = await post(server, FEEDBACK, { items }, basic(server.tenant));
    assert.equal(answer.body.ret_code, 1008027);
    assert.match(String(answer.body.err_msg), /items\[0\]\.at: is in the future/);
    assert.match(String(answer.body.err_msg), /items\[1\]\.reason: longer than 100 characters/);
    assert.match(String(answer.body.err_msg), /items\[2\]\.status: must be an HTTP status from 100 to 599/);
    assert.match(String(answer.body.err_msg), /and 2 more/);
    assert.deepEqual(await accountsOf(server, 'phone'), ['alice'], 'nothing changed');
    const unauthenticated = await post(server, FEEDBACK, { items: [] }, {});
    assert.equal(unauthenticated.status, 401);
  });

  it("never touches another app's token of the same name", async (t) => {
    const server = await testServer(t);
    const other = await server.service.create({ name: 'other' });
    await bind(server, 'shared', 'alice');
    const answer = await post(
      server,
      FEEDBACK,
      { items: [{ token: 'shared', provider: 'fcm', reason: 'UNREGISTERED' }] },
      basic(other),
    );
    assert.deepEqual(outcomes(answer.body), [{ class: 'invalid', action: 'no_binding' }]);
    assert.deepEqual(await accountsOf(server, 'shared'), ['alice']);
  });
});

describe('/api/v1/tokens/{token}/restore and re-binding', () => {
  it('lifts a quarantine either way, recorded in history as restored', async (t) => {
    const server = await testServer(t);
    await bind(server, 'phone', 'alice', 'bob');
    await bind(server, 'tablet', 'alice');
    await post(
      server,
      FEEDBACK,
      {
        items: [
          { token: 'phone', provider: 'apns', reason: 'BadDeviceToken' },
          { token: 'tablet', provider: 'hms', reason: '80300007' },
        ],
      },
      basic(server.tenant),
    );
    const restored = await server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens/phone/restore',
      headers: basic(server.tenant),
    });
    assert.deepEqual(restored.json(), { ...statusOf(0, 'ok'), token: 'phone', action: 'restored' });
    assert.deepEqual(await accountsOf(server, 'phone'), ['alice', 'bob']);
    const again = await server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens/phone/restore',
      headers: basic(server.tenant),
    });
    assert.equal(again.json().action, 'active');

    // The device registered again: the whole token is back, not only the account it bound.
    await bind(server, 'tablet', 'bob');
    assert.deepEqual(await accountsOf(server, 'tablet'), ['alice', 'bob']);
    const history = await get(server, '/api/v1/history?token=tablet');
    assert.deepEqual(
      (history.entries as { cause: string; account: string }[]).map((e) => `${e.cause} ${e.account}`),
      ['bind bob', 'restored alice', 'quarantined alice', 'bind alice'],
    );

    const missing = await server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens/nope/restore',
      headers: basic(server.tenant),
    });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), statusOf(10110008, 'token: the token has no bindings'));
  });
});

describe('/api/v1/tokens/seen', () => {
  it('refreshes last_seen_at of active tokens only, without history', async (t) => {
    const server = await testServer(t);
    await bind(server, 'phone', 'alice');
    await bind(server, 'dead', 'alice');
    await post(
      server,
      FEEDBACK,
      { items: [{ token: 'dead', provider: 'expo', reason: 'DeviceNotRegistered' }] },
      basic(server.tenant),
    );
    const before = (await get(server, '/api/v1/tokens/phone/accounts')).accounts as { last_seen_at: string }[];
    await new Promise((resolve) => setTimeout(resolve, 5));
    const answer = await post(server, SEEN, { tokens: ['phone', 'dead', 'gone', 7] }, basic(server.tenant));
    assert.deepEqual(answer.body.result, ['0', '0', '10110008', '1008006']);
    assert.deepEqual(outcomes(answer.body), [
      { action: 'seen' },
      { action: 'already_quarantined' },
      { action: 'no_binding' },
      { action: 'refused' },
    ]);
    assert.match(String(answer.body.err_msg), /tokens\[3\]: must be a string, got number 7/);
    const after = (await get(server, '/api/v1/tokens/phone/accounts')).accounts as { last_seen_at: string }[];
    assert.ok(Date.parse(after[0]!.last_seen_at) > Date.parse(before[0]!.last_seen_at), 'last_seen_at moved on');
    const history = await get(server, '/api/v1/history?token=phone');
    assert.equal((history.entries as unknown[]).length, 1, 'only the bind');
    assert.deepEqual(await accountsOf(server, 'dead'), [], 'seen does not lift a quarantine');
  });
});

describe('Idempotency-Key on the lifecycle writes', () => {
  it('replays a retried feedback, and never answers one restore for another token', async (t) => {
    const server = await testServer(t);
    await bind(server, 'a', 'alice');
    await bind(server, 'b', 'bob');
    const headers = { ...basic(server.tenant), 'idempotency-key': 'k-1' };
    const items = { items: [{ token: 'a', provider: 'fcm', reason: 'UNREGISTERED' }] };
    const first = await server.app.inject({ method: 'POST', url: FEEDBACK, headers, payload: JSON.stringify(items) });
    const retry = await server.app.inject({ method: 'POST', url: FEEDBACK, headers, payload: JSON.stringify(items) });
    assert.equal(retry.headers['idempotent-replayed'], 'true');
    assert.deepEqual(retry.json(), first.json());
    assert.deepEqual(outcomes(retry.json()), [{ class: 'invalid', action: 'quarantined' }], 'the first answer, again');

    const restoreHeaders = { ...basic(server.tenant), 'idempotency-key': 'r-1' };
    const restoreA = await server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens/a/restore',
      headers: restoreHeaders,
    });
    assert.equal(restoreA.json().action, 'restored');
    const sameKeyOtherToken = await server.app.inject({
      method: 'POST',
      url: '/api/v1/tokens/b/restore',
      headers: restoreHeaders,
    });
    assert.equal(sameKeyOtherToken.statusCode, 400, 'the key was used for another request');
    assert.match(sameKeyOtherToken.json().err_msg, /Idempotency-Key/);
  });
});
