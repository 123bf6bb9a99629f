import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, basic, post, QUERY, statusOf, type TestServer, testServer } from '../../support/helpers.ts';

const ta = (token: unknown, ...accounts: unknown[]) => ({ token, account_list: accounts });
const a = (account: unknown, account_type?: unknown) =>
  account_type === undefined ? { account } : { account, account_type };

async function batch(server: TestServer, body: unknown) {
  return post(server, BATCH, body, basic(server.tenant));
}

async function accountsOf(server: TestServer, ...tokens: string[]) {
  const response = await post(server, QUERY, { operator_type: 2, token_list: tokens }, basic(server.tenant));
  return (response.body.token_accounts as { account_list: { account: string; account_type: number }[] }[]).map((e) =>
    e.account_list.map((x) => `${x.account}/${x.account_type}`),
  );
}

describe('batchoperate: operations', () => {
  it('op 1 appends, op 2 overrides, op 3 unbinds, op 4 clears a token, op 5 clears an account', async (t) => {
    const server = await testServer(t);
    const ok = (n: number) => ({ status: 200, body: { ...statusOf(0, 'ok'), result: Array(n).fill('0') } });
    assert.deepEqual(
      await batch(server, {
        operator_type: 1,
        token_accounts: [ta('t1', a('alice'), a('bob', 1)), ta('t2', a('alice'))],
      }),
      ok(2),
    );
    assert.deepEqual(await accountsOf(server, 't1', 't2'), [['alice/0', 'bob/1'], ['alice/0']]);
    assert.deepEqual(await batch(server, { operator_type: 1, token_accounts: [ta('t1', a('carol'))] }), ok(1));
    assert.deepEqual(await accountsOf(server, 't1'), [['alice/0', 'bob/1', 'carol/0']]);
    assert.deepEqual(
      await batch(server, { operator_type: 2, token_accounts: [ta('t1', a('dave'), a('alice'))] }),
      ok(1),
    );
    assert.deepEqual(await accountsOf(server, 't1'), [['dave/0', 'alice/0']]);
    assert.deepEqual(await batch(server, { operator_type: 3, token_accounts: [ta('t1', a('dave'))] }), ok(1));
    assert.deepEqual(await accountsOf(server, 't1'), [['alice/0']]);
    assert.deepEqual(await batch(server, { operator_type: 4, token_list: ['t1'] }), ok(1));
    assert.deepEqual(await accountsOf(server, 't1', 't2'), [[], ['alice/0']]);
    assert.deepEqual(await batch(server, { operator_type: 5, account_list: [a('alice')] }), ok(1));
    assert.deepEqual(await accountsOf(server, 't2'), [[]]);
  });

  it('nothing to unbind is 10110008, and all elements failing is 1008027 with HTTP 200', async (t) => {
    const server = await testServer(t);
    const r3 = await batch(server, { operator_type: 3, token_accounts: [ta('t1', a('alice'))] });
    assert.deepEqual(r3, {
      status: 200,
      body: {
        ...statusOf(
          1008027,
          'all 1 elements failed: token_accounts[0]: none of the listed accounts is bound to this token',
        ),
        result: ['10110008'],
      },
    });
    const r4 = await batch(server, { operator_type: 4, token_list: ['t1', 't2'] });
    assert.deepEqual(r4.body.result, ['10110008', '10110008']);
    assert.equal(
      r4.body.err_msg,
      'all 2 elements failed: token_list[0]: has no bindings; token_list[1]: has no bindings',
    );
    const r5 = await batch(server, { operator_type: 5, account_list: [a('alice', 3)] });
    assert.deepEqual(r5.body, {
      ...statusOf(1008027, 'all 1 elements failed: account_list[0]: has no bindings'),
      result: ['10110008'],
    });
  });

  it('some elements failing is 1008026; the valid ones are applied and answered "0"', async (t) => {
    const server = await testServer(t);
    const response = await batch(server, {
      operator_type: 1,
      token_accounts: [
        ta('t1', a('alice')),
        ta('x'.repeat(65), a('bob')),
        ta('t3', a('b')),
        ta('t4', a('carol', -1)),
        ta('t5', a('dave')),
      ],
    });
    assert.deepEqual(response, {
      status: 200,
      body: {
        ...statusOf(
          1008026,
          '3 of 5 elements failed, the others were applied: token_accounts[1].token: longer than 64 bytes (65 bytes); ' +
            'token_accounts[2].account_list[0].account: must be longer than 1 byte, got the string "b"; ' +
            'token_accounts[3].account_list[0].account_type: must be an integer from 0 to 2147483647, got number -1',
        ),
        result: ['0', '1008006', '1008007', '1008007', '0'],
      },
    });
    assert.deepEqual(await accountsOf(server, 't1', 't3', 't4', 't5'), [['alice/0'], [], [], ['dave/0']]);
  });

  it('err_msg lists three failures and counts the rest', async (t) => {
    const server = await testServer(t);
    const response = await batch(server, { operator_type: 4, token_list: ['', '', '', '', '', 'ok-token'] });
    assert.equal(response.body.ret_code, 1008027);
    assert.equal(
      response.body.err_msg,
      'all 6 elements failed: token_list[0]: empty; token_list[1]: empty; token_list[2]: empty; and 3 more',
    );
  });

  it('checks every element field and names it', async (t) => {
    const server = await testServer(t);
    const cases: [unknown, string, string][] = [
      [
        'not-an-object',
        '1008007',
        'token_accounts[0]: must be an object like {"token": "...", "account_list": [...]}, got the string "not-an-object"',
      ],
      [{ account_list: [a('alice')] }, '1008006', 'token_accounts[0].token: required'],
      [ta(42, a('alice')), '1008006', 'token_accounts[0].token: must be a string, got number 42'],
      [ta('', a('alice')), '1008006', 'token_accounts[0].token: empty'],
      [ta('\ud800x', a('alice')), '1008006', 'token_accounts[0].token: not valid UTF-8 (unpaired surrogate)'],
      [ta('a\u0000b', a('alice')), '1008006', 'token_accounts[0].token: contains a NUL character (U+0000)'],
      [
        ta('t', a('al\u0000ice')),
        '1008007',
        'token_accounts[0].account_list[0].account: contains a NUL character (U+0000)',
      ],
      [{ token: 't' }, '1008007', 'token_accounts[0].account_list: required'],
      [
        { token: 't', account_list: 'alice' },
        '1008007',
        'token_accounts[0].account_list: must be an array, got the string "alice"',
      ],
      [{ token: 't', account_list: [] }, '1008007', 'token_accounts[0].account_list: must not be empty'],
      [
        { token: 't', account_list: Array.from({ length: 101 }, (_, i) => a(`u${i}`)) },
        '1008007',
        'token_accounts[0].account_list: at most 100 entries, got 101',
      ],
      [
        ta('t', 'alice'),
        '1008007',
        'token_accounts[0].account_list[0]: must be an object like {"account": "...", "account_type": 0}, got the string "alice"',
      ],
      [ta('t', {}), '1008007', 'token_accounts[0].account_list[0].account: required'],
      [ta('t', a(7)), '1008007', 'token_accounts[0].account_list[0].account: must be a string, got number 7'],
      [
        ta('t', a('x'.repeat(101))),
        '1008007',
        'token_accounts[0].account_list[0].account: longer than 100 characters (101 characters)',
      ],
      [
        ta('t', a('😀'.repeat(101))),
        '1008007',
        'token_accounts[0].account_list[0].account: longer than 100 characters (101 characters)',
      ],
      [ta('😀'.repeat(17), a('alice')), '1008006', 'token_accounts[0].token: longer than 64 bytes (68 bytes)'],
      [
        ta('t', a('alice', 1.5)),
        '1008007',
        'token_accounts[0].account_list[0].account_type: must be an integer from 0 to 2147483647, got number 1.5',
      ],
      [
        ta('t', a('alice', '1')),
        '1008007',
        'token_accounts[0].account_list[0].account_type: must be an integer from 0 to 2147483647, got the string "1"',
      ],
      [
        ta('t', a('alice', 2 ** 31)),
        '1008007',
        'token_accounts[0].account_list[0].account_type: must be an integer from 0 to 2147483647, got number 2147483648',
      ],
    ];
    for (const [element, code, message] of cases) {
      const response = await batch(server, { operator_type: 1, token_accounts: [element] });
      assert.deepEqual(
        response.body,
        { ...statusOf(1008027, `all 1 elements failed: ${message}`), result: [code] },
        message,
      );
    }
    assert.deepEqual(await accountsOf(server, 't'), [[]], 'no invalid element was applied');
    // "é" is 2 bytes of UTF-8: longer than 1 byte, so it is a valid account.
    assert.deepEqual((await batch(server, { operator_type: 1, token_accounts: [ta('t', a('é'))] })).body.result, ['0']);
    // Characters are code points: 100 emoji (200 UTF-16 units) are 100 characters; 16 emoji are 64 bytes.
    assert.deepEqual(
      (await batch(server, { operator_type: 1, token_accounts: [ta('😀'.repeat(16), a('😀'.repeat(100)))] })).body
        .result,
      ['0'],
    );
  });

  it('op 1 and op 2 refuse an element listing more accounts than max_accounts_per_token', async (t) => {
    const server = await testServer(t);
    await server.service.setPolicy(server.tenant.accessId, { maxAccountsPerToken: 2 });
    const response = await batch(server, {
      operator_type: 2,
      token_accounts: [ta('t1', a('u1'), a('u2'), a('u3')), ta('t2', a('u1'))],
    });
    assert.deepEqual(response.body, {
      ...statusOf(
        1008026,
        '1 of 2 elements failed, the others were applied: token_accounts[0].account_list: 3 distinct accounts, more ' +
          "than this app's max_accounts_per_token (2)",
      ),
      result: ['1008007', '0'],
    });
  });

  it('evicts the least recently bound binding when a cap is hit', async (t) => {
    const server = await testServer(t);
    await server.service.setPolicy(server.tenant.accessId, { maxAccountsPerToken: 1, maxTokensPerAccount: 2 });
    await batch(server, { operator_type: 1, token_accounts: [ta('phone', a('alice'))] });
    await batch(server, { operator_type: 1, token_accounts: [ta('phone', a('bob'))] });
    assert.deepEqual(await accountsOf(server, 'phone'), [['bob/0']], 'logging in moved the device');
    await batch(server, { operator_type: 1, token_accounts: [ta('tablet', a('bob')), ta('laptop', a('bob'))] });
    const query = await post(server, QUERY, { operator_type: 1, account_list: [a('bob')] }, basic(server.tenant));
    assert.deepEqual((query.body.account_tokens as { token_list: string[] }[])[0]?.token_list, ['tablet', 'laptop']);
  });

  it('later elements and later accounts of one request are newer', async (t) => {
    const server = await testServer(t);
    await batch(server, {
      operator_type: 1,
      token_accounts: [ta('t2', a('alice')), ta('t1', a('alice')), ta('t3', a('zed'), a('alice'))],
    });
    const query = await post(server, QUERY, { operator_type: 1, account_list: [a('alice')] }, basic(server.tenant));
    assert.deepEqual((query.body.account_tokens as { token_list: string[] }[])[0]?.token_list, ['t2', 't1', 't3']);
    assert.deepEqual(await accountsOf(server, 't3'), [['zed/0', 'alice/0']]);
  });

  it('ignores unknown fields and treats null optional fields as absent', async (t) => {
    const server = await testServer(t);
    const response = await batch(server, {
      operator_type: 1,
      platform: null,
      op_type: null,
      op_id: null,
      extra: { deep: [1, 2] },
      token_list: 'ignored for op 1',
      token_accounts: [
        { token: 't1', account_list: [{ account: 'alice', account_type: null, note: 'x' }], more: true },
      ],
    });
    assert.deepEqual(response.body, { ...statusOf(0, 'ok'), result: ['0'] });
  });

  it('platform is matched case-insensitively; anything else is a parameter error', async (t) => {
    const server = await testServer(t);
    for (const platform of ['android', 'Android', 'IOS', 'ios']) {
      assert.equal(
        (await batch(server, { operator_type: 1, platform, token_accounts: [ta('t1', a('alice'))] })).body.ret_code,
        0,
      );
    }
    for (const [platform, shown] of [
      ['windows', 'the string "windows"'],
      [1, 'number 1'],
      [['ios'], 'an array'],
    ] as const) {
      const response = await batch(server, { operator_type: 1, platform, token_accounts: [ta('t2', a('alice'))] });
      assert.deepEqual(response, {
        status: 400,
        body: statusOf(1008007, `platform: must be "android" or "ios", got ${shown}`),
      });
    }
    assert.deepEqual(await accountsOf(server, 't2'), [[]], 'a refused request changed nothing');
  });

  it('op_type and op_id must be short strings', async (t) => {
    const server = await testServer(t);
    assert.equal(
      (await batch(server, { operator_type: 4, token_list: ['t'], op_type: 'qq', op_id: '10001' })).body.ret_code,
      1008027,
    );
    assert.deepEqual(
      (await batch(server, { operator_type: 4, token_list: ['t'], op_type: 5 })).body,
      statusOf(1008007, 'op_type: must be a string, got number 5'),
    );
    assert.deepEqual(
      (await batch(server, { operator_type: 4, token_list: ['t'], op_id: 'x'.repeat(129) })).body,
      statusOf(1008007, 'op_id: longer than 128 characters'),
    );
  });

  it('BINDERY_MAX_TOKEN_BYTES raises the token limit for long FCM tokens', async (t) => {
    const server = await testServer(t, { maxTokenBytes: 4096 });
    const fcm = 'f'.repeat(163);
    assert.deepEqual((await batch(server, { operator_type: 1, token_accounts: [ta(fcm, a('alice'))] })).body.result, [
      '0',
    ]);
    const tooLong = await batch(server, { operator_type: 1, token_accounts: [ta('é'.repeat(2049), a('alice'))] });
    assert.equal(
      tooLong.body.err_msg,
      'all 1 elements failed: token_accounts[0].token: longer than 4096 bytes (4098 bytes)',
    );
  });

  it('answers the app write revision in x-bindery-revision when something reached the store', async (t) => {
    const server = await testServer(t);
    const send = (body: unknown) =>
      server.app.inject({ method: 'POST', url: BATCH, payload: JSON.stringify(body), headers: basic(server.tenant) });
    const first = await send({ operator_type: 1, token_accounts: [ta('t1', a('alice'))] });
    const second = await send({ operator_type: 4, token_list: ['t1'] });
    assert.equal(Number(second.headers['x-bindery-revision']), Number(first.headers['x-bindery-revision']) + 1);
    const invalidOnly = await send({ operator_type: 4, token_list: [''] });
    assert.equal(invalidOnly.headers['x-bindery-revision'], undefined);
  });

  it('stores and returns unusual strings verbatim', async (t) => {
    const server = await testServer(t);
    const tokens = ["x'; DROP TABLE bindings; --", 'emoji 📱 token', 'tab\there', '%s%n%x', '\u0001soh'];
    await batch(server, {
      operator_type: 1,
      token_accounts: tokens.map((token) => ta(token, a("o'brien"), a('李雷'))),
    });
    const query = await post(server, QUERY, { operator_type: 2, token_list: tokens }, basic(server.tenant));
    assert.deepEqual(
      (query.body.token_accounts as { token: string; account_list: { account: string }[] }[]).map((e) => [
        e.token,
        e.account_list.map((x) => x.account),
      ]),
      tokens.map((token) => [token, ["o'brien", '李雷']]),
    );
  });
});
