import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../support/helpers.ts';
import { cli } from '../support/server-process.ts';

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
    assert.ok(
      Object.values(app).every((v) => v === null || typeof v !== 'object'),
      'flat',
    );
    const id = String(app.access_id);

    const listed = JSON.parse(cli(['app', 'list', '--json'], env).stdout) as Record<string, unknown>[];
    assert.deepEqual(
      listed.map((a) => [a.access_id, a.bindings, a.secret_key]),
      [[id, 0, undefined]],
      'list never shows secrets',
    );

    const policy = JSON.parse(
      cli(['app', 'set-policy', id, '--max-tokens-per-account', '7', '--json'], env).stdout,
    ) as Record<string, unknown>;
    assert.deepEqual([policy.max_tokens_per_account, policy.max_accounts_per_token], [7, 1]);

    const rotated = JSON.parse(cli(['app', 'rotate-secret', id, '--json'], env).stdout) as Record<string, unknown>;
    assert.notEqual(rotated.secret_key, app.secret_key);
    assert.ok(
      Date.parse(String(rotated.previous_secret_valid_until)) > Date.now() + 86_000_000,
      'default grace is 24 h',
    );

    const shown = cli(['app', 'show', id], env);
    assert.match(shown.stdout, /max_tokens_per_account\s+7/);
    assert.doesNotMatch(shown.stdout, /secret_key/);

    assert.equal(cli(['app', 'delete', id], env).status, 2, 'delete needs --yes');
    assert.deepEqual(JSON.parse(cli(['app', 'delete', id, '--yes', '--json'], env).stdout), {
      access_id: id,
      deleted: true,
    });
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
    assert.equal(
      cli(['app', 'create', '--name', 'x', '--access-id', '1500000001', '--secret-key', 'a'.repeat(32)], env).status,
      0,
    );
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

  it('binding rules: set at create and with set-policy, shown by list as an aligned table', async (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}` };
    const moving = JSON.parse(
      cli(['app', 'create', '--name', 'migrating', '--binding-rules', 'tpns', '--json'], env).stdout,
    ) as Record<string, unknown>;
    assert.equal(moving.binding_rules, 'tpns');
    const plain = JSON.parse(cli(['app', 'create', '--name', 'plain', '--json'], env).stdout) as Record<
      string,
      unknown
    >;
    assert.equal(plain.binding_rules, 'append', 'append is the default');
    const changed = JSON.parse(
      cli(['app', 'set-policy', String(plain.access_id), '--binding-rules', 'tpns', '--json'], env).stdout,
    ) as Record<string, unknown>;
    assert.equal(changed.binding_rules, 'tpns');
    const wrong = cli(['app', 'set-policy', String(plain.access_id), '--binding-rules', 'latest'], env);
    assert.equal(wrong.status, 2);
    assert.match(wrong.stderr, /Allowed choices are append, tpns/);

    cli(['app', 'create', '--name', 'a name far longer than any table column should ever be made to hold'], env);
    const list = cli(['app', 'list'], env);
    const lines = list.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ACCESS ID +NAME +RULES +BINDINGS +TOKENS +ACCOUNTS +WEBHOOK$/);
    assert.equal(lines.length, 4);
    assert.ok(
      lines.every((line) => [...line].length <= 100),
      `fits 100 columns:\n${list.stdout}`,
    );
    assert.match(list.stdout, /a name far longer than … {2}/, 'a long name is clipped, and says so');
    const wide = cli(['app', 'list', '--wide'], env).stdout.split('\n');
    assert.match(
      wide[0]!,
      /^ACCESS ID +NAME +RULES +MAX TOKENS\/ACCOUNT +MAX ACCOUNTS\/TOKEN +BINDINGS +TOKENS +ACCOUNTS +QUARANTINED +TTL DAYS +RATE LIMIT\/S +WEBHOOK$/,
    );
    const column = (line: string) => line.indexOf('tpns');
    assert.ok(
      lines.filter((line) => line.includes(' tpns ')).every((line) => column(line) === lines[0]!.indexOf('RULES')),
      'the rules column is aligned under its header',
    );
    assert.match(list.stderr, /^store: sqlite:\/.*b\.db\n$/, 'says which store it used');
  });

  it('does not answer from a new empty store in the wrong folder: only create and migrate make one', async (t) => {
    const dir = tempDir(t);
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(dir, 'nowhere', 'bindery.db')}` };
    for (const args of [
      ['app', 'list'],
      ['app', 'show', '1500000001'],
      ['app', 'delete', '1500000001', '--yes'],
      ['copy', '--from', env.BINDERY_DATABASE_URL, '--to', `sqlite:${join(dir, 'to.db')}`],
    ]) {
      const run = cli(args, env);
      assert.equal(run.status, 2, args.join(' '));
      assert.match(
        run.stderr,
        new RegExp(
          `no bindery database at ${join(dir, 'nowhere', 'bindery.db').replace(/[.]/g, '\\.')} .*set ` +
            `BINDERY_DATABASE_URL`,
        ),
        args.join(' '),
      );
    }
    assert.equal(existsSync(join(dir, 'nowhere')), false, 'nothing was created');
    assert.equal(cli(['app', 'create', '--name', 'first'], env).status, 0, 'create makes the store');
    assert.equal(cli(['app', 'list'], env).status, 0);
  });

  it('answers at once: the compiled CLI, no TypeScript at run time', (t) => {
    const started = performance.now();
    const help = cli(['--help'], {});
    const ms = performance.now() - started;
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: bindery/);
    assert.match(
      readFileSync(new URL('../../bin/bindery.js', import.meta.url), 'utf8'),
      /dist\/server\/cli\/main\.js/,
      'bin runs the build',
    );
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    assert.equal(pkg.dependencies.tsx, undefined, 'tsx is only a devDependency');
    t.diagnostic(`bindery --help answered in ${ms.toFixed(0)} ms`);
  });
});
