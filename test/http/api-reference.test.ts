/** docs/api.md is the reference a user reads: it must be what the route schemas say now. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { API_DOC, currentApiReference } from '../../scripts/api-doc.ts';

describe('docs/api.md', () => {
  it('is current: rendered again from the route schemas, it is the same file (else run `npm run docs`)', async () => {
    const current = await currentApiReference();
    assert.equal(
      readFileSync(API_DOC, 'utf8'),
      current,
      'docs/api.md is out of date: run `npm run docs` and commit it',
    );
    for (const path of [
      '/v3/device/account/batchoperate',
      '/v3/device/account/query',
      '/api/v1/export',
      '/api/v1/import',
      '/admin/v1/apps',
      '/metrics',
      '/readyz',
    ]) {
      assert.match(
        current,
        new RegExp(`### [A-Z]+ \`${path.replace(/[/{}]/g, (c) => `\\${c}`)}\``),
        `${path} is documented`,
      );
    }
    assert.match(current, /\| `binding_rules` \| "append" or "tpns" \|/, 'the admin API documents binding_rules');
    assert.match(current, /\| 1008028 \|/);
  });
});
