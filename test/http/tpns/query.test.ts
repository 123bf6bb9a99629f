import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH, basic, post, QUERY, statusOf, testServer } from '../../support/helpers.ts';

describe('query', () => {
  it('op 1 lists each account tokens oldest first, one entry per element in request order', async (t) => {
    const server = await testServer(t);
    await post(
      server,
      BATCH,
      {
        operator_type: 1,
        token_accounts: [
          { token: 'old', account_list: [{ account: 'alice' }] },
          { token: 'new', account_list: [{ account: 'alice' }, { account: 'bob', account_type: 9 }] },
        ],
      },
      basic(server.tenant),
    );
    const response = await post(
      server,
      QUERY,
      {
        operator_type: 1,
        account_list: [
          { account: 'bob', account_type: 9 },
          { account: 'nobody' },
          { account: 'alice' },
          { account: 'x' },
          'junk',
          { account: 'alice', account_type: 9 },
        ],
      },
      basic(server.tenant),
    );
    assert.deepEqual(response, {
      status: 200,
      body: {
        ...statusOf(0, 'ok'),
        result: ['0', '10110008', '0', '1008007', '1008007', '10110008'],
        account_tokens: [
          { account: 'bob', account_type: 9, token_list: ['new'] },
          { account: 'nobody', account_type: 0, token_list: [] },
          { account: 'alice', account_type: 0, token_list: ['old', 'new'] },
          { account: 'x', account_type: 0, token_list: [] },
          { account: '', account_type: 0, token_list: [] },
          { account: 'alice', account_type: 9, token_list: [] },
        ],
      },
    });
  });

  it('op 2 lists each token accounts oldest first; invalid tokens answer 1008006', async (t) => {
    const server = await testServer(t);
    await post(
      server,
      BATCH,
      {
        operator_type: 1,
        token_accounts: [{ token: 't1', account_list: [{ account: 'zed', account_type: 3 }, { account: 'amy' }] }],
      },
      basic(server.tenant),
    );
    const response = await post(
      server,
      QUERY,
      { operator_type: 2, platform: 'whatever', token_list: ['t1', '', 5, 'missing'] },
      basic(server.tenant),
    );
    assert.deepEqual(response.body, {
      ...statusOf(0, 'ok'),
      result: ['0', '1008006', '1008006', '10110008'],
      token_accounts: [
        {
          token: 't1',
          account_list: [
            { account: 'zed', account_type: 3 },
            { account: 'amy', account_type: 0 },
          ],
        },
        { token: '', account_list: [] },
        { token: '', account_list: [] },
        { token: 'missing', account_list: [] },
      ],
    });
  });

  it('sees a change as soon as batchoperate has answered (read-your-writes)', async (t) => {
    const server = await testServer(t);
    for (let i = 0; i < 20; i++) {
      await post(
        server,
        BATCH,
        { operator_type: 1, token_accounts: [{ token: `t${i}`, account_list: [{ account: 'alice' }] }] },
        basic(server.tenant),
      );
      const response = await post(
        server,
        QUERY,
        { operator_type: 1, account_list: [{ account: 'alice' }] },
        basic(server.tenant),
      );
      assert.equal((response.body.account_tokens as { token_list: string[] }[])[0]?.token_list.at(-1), `t${i}`);
    }
  });

  it('refuses whole requests with the right codes', async (t) => {
    const server = await testServer(t);
    const cases: [unknown, number, number, string][] = [
      [{}, 400, 1008002, 'operator_type: required'],
      [{ operator_type: 3 }, 400, 1008007, 'operator_type: must be an integer from 1 to 2, got number 3'],
      [
        { operator_type: '1', account_list: [{ account: 'alice' }] },
        400,
        1008007,
        'operator_type: must be an integer from 1 to 2, got the string "1"',
      ],
      [{ operator_type: 1 }, 400, 1008002, 'account_list: required when operator_type is 1'],
      [{ operator_type: 1, account_list: [] }, 400, 1008002, 'account_list: must not be empty when operator_type is 1'],
      [{ operator_type: 2, token_list: null }, 400, 1008002, 'token_list: required when operator_type is 2'],
      [{ operator_type: 2, token_list: 't1' }, 400, 1008007, 'token_list: must be an array, got the string "t1"'],
      [
        { operator_type: 2, token_list: Array.from({ length: 101 }, (_, i) => `t${i}`) },
        400,
        1008007,
        'token_list: at most 100 entries, got 101',
      ],
    ];
    for (const [body, httpStatus, code, message] of cases) {
      assert.deepEqual(
        await post(server, QUERY, body, basic(server.tenant)),
        { status: httpStatus, body: statusOf(code, message) },
        message,
      );
    }
  });
});

describe('tenant isolation', () => {
  it('app A never sees or changes app B bindings', async (t) => {
    const server = await testServer(t);
    const other = await server.service.create({ name: 'other' });
    const bindA = {
      operator_type: 1,
      token_accounts: [{ token: 'shared-token', account_list: [{ account: 'shared-account' }] }],
    };
    await post(server, BATCH, bindA, basic(server.tenant));
    const seenByB = await post(
      server,
      QUERY,
      { operator_type: 1, account_list: [{ account: 'shared-account' }] },
      basic(other),
    );
    assert.deepEqual(seenByB.body.result, ['10110008']);
    for (const body of [
      { operator_type: 4, token_list: ['shared-token'] },
      { operator_type: 5, account_list: [{ account: 'shared-account' }] },
      { operator_type: 3, token_accounts: [{ token: 'shared-token', account_list: [{ account: 'shared-account' }] }] },
    ]) {
      assert.equal(
        (await post(server, BATCH, body, basic(other))).body.ret_code,
        1008027,
        'nothing of A to unbind for B',
      );
    }
    await post(
      server,
      BATCH,
      { operator_type: 2, token_accounts: [{ token: 'shared-token', account_list: [{ account: 'b-user' }] }] },
      basic(other),
    );
    const seenByA = await post(server, QUERY, { operator_type: 2, token_list: ['shared-token'] }, basic(server.tenant));
    assert.deepEqual(seenByA.body.token_accounts, [
      { token: 'shared-token', account_list: [{ account: 'shared-account', account_type: 0 }] },
    ]);
  });
});
