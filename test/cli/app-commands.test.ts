import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers.ts';
import { cli } from '../server-process.ts';

describe('bindery app …', () => {
  it('create --json prints exactly one flat JSON object; list, show, set-policy, rotate-secret and delete work', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}` };
    const created = cli(['app', 'create', '--name', 'shop', '--max-accounts-per-token', '1', '--json'], env);
    assert.equal(created.status, 0, created.stderr);
    assert.equal(created.stdout.trim().split('\n').length, 1);
    const app = JSON.parse(created.stdout) as Record<string, unknown>;
    assert.match(String(app.access_id), /^15\d{8}$/);
    assert.match(String(app.secret_key), /^[0-9a-f]{32}$/);
    assert.equal(app.name, 'shop');
    assert.equal(app.max_accounts_per_token, 1);
    assert.ok(Object.values(app).every((v) => v === null || typeof v !== 'object'), 'flat');
    const id = String(app.access_id);

    const listed = JSON.parse(cli(['app', 'list', '--json'], env).stdout) as Record<string, unknown>[];
    assert.deepEqual(listed.map((a) => [a.access_id, a.bindings, a.secret_key]), [[id, 0, undefined]], 'list never shows secrets');

    const policy = JSON.parse(cli(['app', 'set-policy', id, '--max-tokens-per-account', '7', '--json'], env).stdout) as Record<string, unknown>;
    assert.deepEqual([policy.max_tokens_per_account, policy.max_accounts_per_token], [7, 1]);

    const rotated = JSON.parse(cli(['app', 'rotate-secret', id, '--json'], env).stdout) as Record<string, unknown>;
    assert.notEqual(rotated.secret_key, app.secret_key);
    assert.ok(Date.parse(String(rotated.previous_secret_valid_until)) > Date.now() + 86_000_000, 'default grace is 24 h');

    const shown = cli(['app', 'show', id], env);
    assert.match(shown.stdout, /max_tokens_per_account\s+7/);
    assert.doesNotMatch(shown.stdout, /secret_key/);

    assert.equal(cli(['app', 'delete', id], env).status, 2, 'delete needs --yes');
    assert.deepEqual(JSON.parse(cli(['app', 'delete', id, '--yes', '--json'], env).stdout), { access_id: id, deleted: true });
    assert.deepEqual(JSON.parse(cli(['app', 'list', '--json'], env).stdout), []);
  });

  it('exit codes: 2 for bad input, 3 for an unknown app, 0 for --help', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}` };
    const badKey = cli(['app', 'create', '--name', 'x', '--access-id', '1500000001', '--secret-key', 'NOT-HEX'], env);
    assert.equal(badKey.status, 2);
    assert.match(badKey.stderr, /SecretKey must be 32 lowercase hex characters/);
    const half = cli(['app', 'create', '--name', 'x', '--access-id', '1500000001'], env);
    assert.equal(half.status, 2);
    assert.match(half.stderr, /give both --access-id and --secret-key/);
    assert.equal(cli(['app', 'create', '--name', 'x', '--access-id', '1500000001', '--secret-key', 'a'.repeat(32)], env).status, 0);
    const dup = cli(['app', 'create', '--name', 'y', '--access-id', '1500000001', '--secret-key', 'b'.repeat(32)], env);
    assert.equal(dup.status, 2);
    assert.match(dup.stderr, /already exists; choose another --access-id/);
    const missing = cli(['app', 'rotate-secret', '1599999999'], env);
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /no app with AccessID 1599999999/);
    assert.equal(cli(['app', 'set-policy', '1500000001', '--max-accounts-per-token', '0'], env).status, 2);
    const help = cli(['app', 'create', '--help'], env);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--access-id <id>/);
    assert.equal(cli(['nonsense'], env).status, 2);
    const badUrl = cli(['app', 'list'], { BINDERY_DATABASE_URL: 'mysql://x' });
    assert.equal(badUrl.status, 2);
    assert.match(badUrl.stderr, /use sqlite:PATH/);
  });
});
