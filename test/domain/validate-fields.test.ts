/** The single-value checks: the clean value, or the TPNS code and a message naming the path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkAccountKey,
  checkOperatorField,
  checkPlatform,
  checkToken,
  MAX_ACCOUNT_CHARS,
  MAX_ACCOUNT_TYPE,
  MAX_OPERATOR_CHARS,
} from '../../src/domain/validate-fields.ts';
import { RetCode } from '../../src/errors.ts';

const invalid = (message: string) => ({ code: RetCode.INVALID_PARAMETER, message });

describe('checkToken', () => {
  it('keeps a token verbatim, within the byte limit counted in UTF-8', () => {
    assert.equal(checkToken('abc', 't', 10), 'abc');
    assert.equal(checkToken('é'.repeat(5), 't', 10), 'é'.repeat(5));
    assert.deepEqual(checkToken('é'.repeat(6), 't', 10), {
      code: RetCode.INVALID_TOKEN,
      message: 't: longer than 10 bytes (12 bytes)',
    });
  });

  it('refuses a missing, empty, non-string, NUL or unpaired-surrogate token with INVALID_TOKEN', () => {
    const token = (message: string) => ({ code: RetCode.INVALID_TOKEN, message });
    assert.deepEqual(checkToken(undefined, 'x[0]', 10), token('x[0]: required'));
    assert.deepEqual(checkToken('', 'x[0]', 10), token('x[0]: empty'));
    assert.deepEqual(checkToken(7, 'x[0]', 10), token('x[0]: must be a string, got number 7'));
    assert.deepEqual(checkToken('a\u0000b', 'x[0]', 10), token('x[0]: contains a NUL character (U+0000)'));
    assert.deepEqual(checkToken('a\ud800', 'x[0]', 10), token('x[0]: not valid UTF-8 (unpaired surrogate)'));
  });
});

describe('checkAccountKey', () => {
  it('defaults account_type to 0 and keeps the account verbatim', () => {
    assert.deepEqual(checkAccountKey({ account: 'alice' }, 'a'), { account: 'alice', accountType: 0 });
    assert.deepEqual(checkAccountKey({ account: 'alice', account_type: null }, 'a'), {
      account: 'alice',
      accountType: 0,
    });
    assert.deepEqual(checkAccountKey({ account: '你', account_type: MAX_ACCOUNT_TYPE }, 'a'), {
      account: '你',
      accountType: MAX_ACCOUNT_TYPE,
    });
  });

  it('wants more than one byte and at most 100 characters, counted as code points', () => {
    assert.deepEqual(
      checkAccountKey({ account: 'a' }, 'l[2]'),
      invalid('l[2].account: must be longer than 1 byte, got the string "a"'),
    );
    const emoji = '😀'.repeat(MAX_ACCOUNT_CHARS);
    assert.deepEqual(checkAccountKey({ account: emoji }, 'a'), { account: emoji, accountType: 0 });
    assert.deepEqual(
      checkAccountKey({ account: `${emoji}x` }, 'a'),
      invalid(`a.account: longer than ${MAX_ACCOUNT_CHARS} characters (101 characters)`),
    );
  });

  it('names the field that is wrong', () => {
    assert.deepEqual(
      checkAccountKey('alice', 'l[0]'),
      invalid('l[0]: must be an object like {"account": "...", "account_type": 0}, got the string "alice"'),
    );
    assert.deepEqual(checkAccountKey({}, 'l[0]'), invalid('l[0].account: required'));
    assert.deepEqual(
      checkAccountKey({ account: ['x'] }, 'l[0]'),
      invalid('l[0].account: must be a string, got an array'),
    );
    for (const bad of [-1, 1.5, '1', MAX_ACCOUNT_TYPE + 1]) {
      const result = checkAccountKey({ account: 'alice', account_type: bad }, 'l[0]');
      assert.equal((result as { code: number }).code, RetCode.INVALID_PARAMETER, `account_type ${bad}`);
      assert.match((result as { message: string }).message, /^l\[0\]\.account_type: must be an integer from 0 to/);
    }
  });
});

describe('checkPlatform and checkOperatorField', () => {
  it('takes android or ios in any case, or nothing', () => {
    assert.equal(checkPlatform('iOS'), 'ios');
    assert.equal(checkPlatform('ANDROID'), 'android');
    assert.equal(checkPlatform(undefined), null);
    assert.deepEqual(checkPlatform('web'), invalid('platform: must be "android" or "ios", got the string "web"'));
  });

  it('bounds op_type and op_id', () => {
    assert.equal(checkOperatorField('email', 'op_type'), 'email');
    assert.equal(checkOperatorField(null, 'op_type'), null);
    assert.deepEqual(checkOperatorField(3, 'op_id'), invalid('op_id: must be a string, got number 3'));
    assert.deepEqual(
      checkOperatorField('x'.repeat(MAX_OPERATOR_CHARS + 1), 'op_id'),
      invalid(`op_id: longer than ${MAX_OPERATOR_CHARS} characters`),
    );
  });
});
