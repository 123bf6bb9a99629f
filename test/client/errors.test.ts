import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetCode as SdkRetCode } from '../../src/client/errors.ts';
import { RetCode } from '../../src/errors.ts';

describe('the SDK error catalog', () => {
  it('names every code it carries as the server does, with the same number', () => {
    for (const [name, code] of Object.entries(SdkRetCode)) {
      assert.equal(code, RetCode[name as keyof typeof RetCode], `RetCode.${name}`);
    }
  });
});
