/** Whole requests: a request-level mistake throws the TPNS error; an element's mistake fills its slot. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_LIST_ENTRIES,
  MAX_TOKEN_ACCOUNTS,
  validateBatch,
  validateQuery,
} from '../../src/domain/validate-request.ts';
import { RequestError, RetCode } from '../../src/model/errors.ts';

const refusal = (retCode: number, message: string) => (error: unknown) =>
  error instanceof RequestError && error.retCode === retCode && error.message === message;

describe('validateBatch', () => {
  it('keeps the valid elements as the command and a failure in the slot of each invalid one', () => {
    const { command, slots, listName } = validateBatch(
      {
        operator_type: 1,
        platform: 'Android',
        op_type: 'email',
        op_id: 'ops@example.com',
        token_accounts: [
          { token: 't1', account_list: [{ account: 'alice' }, { account: 'bob', account_type: 2 }] },
          { token: '', account_list: [{ account: 'carol' }] },
          { token: 't3', account_list: [{ account: 'x' }] },
        ],
      },
      64,
    );
    assert.equal(listName, 'token_accounts');
    assert.deepEqual(command, {
      elements: [
        {
          op: 1,
          token: 't1',
          accounts: [
            { account: 'alice', accountType: 0 },
            { account: 'bob', accountType: 2 },
          ],
        },
      ],
      platform: 'android',
      opType: 'email',
      opId: 'ops@example.com',
    });
    assert.deepEqual(
      slots.map((s) => (s.ok ? 'ok' : `${s.failure.code} ${s.failure.message}`)),
      [
        'ok',
        `${RetCode.INVALID_TOKEN} token_accounts[1].token: empty`,
        `${RetCode.INVALID_PARAMETER} token_accounts[2].account_list[0].account: must be longer than 1 byte, got the string "x"`,
      ],
    );
  });

  it('takes op 4 from token_list and op 5 from account_list', () => {
    assert.deepEqual(validateBatch({ operator_type: 4, token_list: ['t1'] }, 64).command.elements, [
      { op: 4, token: 't1' },
    ]);
    assert.deepEqual(validateBatch({ operator_type: 5, account_list: [{ account: 'alice' }] }, 64).command.elements, [
      { op: 5, account: { account: 'alice', accountType: 0 } },
    ]);
  });

  it('refuses the whole request for a wrong operator_type, list or request-level field', () => {
    const missing = RetCode.MISSING_PARAMETER;
    const invalid = RetCode.INVALID_PARAMETER;
    assert.throws(() => validateBatch({}, 64), refusal(missing, 'operator_type: required'));
    assert.throws(
      () => validateBatch({ operator_type: 6 }, 64),
      refusal(invalid, 'operator_type: must be an integer from 1 to 5, got number 6'),
    );
    assert.throws(
      () => validateBatch({ operator_type: 4 }, 64),
      refusal(missing, 'token_list: required when operator_type is 4'),
    );
    assert.throws(
      () => validateBatch({ operator_type: 4, token_list: [] }, 64),
      refusal(missing, 'token_list: must not be empty when operator_type is 4'),
    );
    const tooMany = Array.from({ length: MAX_TOKEN_ACCOUNTS + 1 }, () => ({ token: 't', account_list: [] }));
    assert.throws(
      () => validateBatch({ operator_type: 1, token_accounts: tooMany }, 64),
      refusal(invalid, `token_accounts: at most ${MAX_TOKEN_ACCOUNTS} entries, got ${MAX_TOKEN_ACCOUNTS + 1}`),
    );
    assert.throws(
      () => validateBatch({ operator_type: 4, token_list: ['t'], platform: 'web' }, 64),
      refusal(invalid, 'platform: must be "android" or "ios", got the string "web"'),
    );
  });
});

describe('validateQuery', () => {
  it('answers a slot per entry and ignores the platform, whatever it is', () => {
    const query = validateQuery({ operator_type: 2, token_list: ['t1', 5], platform: 'web' }, 64);
    assert.equal(query.op, 2);
    assert.deepEqual(
      query.slots.map((s) => (s.ok ? s.value : s.failure.message)),
      ['t1', 'token_list[1]: must be a string, got number 5'],
    );
  });

  it('refuses more than 100 entries and an operator_type above 2', () => {
    const accounts = Array.from({ length: MAX_LIST_ENTRIES + 1 }, () => ({ account: 'alice' }));
    assert.throws(
      () => validateQuery({ operator_type: 1, account_list: accounts }, 64),
      refusal(
        RetCode.INVALID_PARAMETER,
        `account_list: at most ${MAX_LIST_ENTRIES} entries, got ${MAX_LIST_ENTRIES + 1}`,
      ),
    );
    assert.throws(
      () => validateQuery({ operator_type: 3, token_list: ['t'] }, 64),
      refusal(RetCode.INVALID_PARAMETER, 'operator_type: must be an integer from 1 to 2, got number 3'),
    );
  });
});
