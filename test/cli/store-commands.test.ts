import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBatch } from '../../src/domain/run-batch.ts';
import type { BindingStore } from '../../src/model/store.ts';
import { asBound, DEFAULT_POLICY } from '../../src/model/types.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { allBindings, tempDir } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { cli } from '../support/server-process.ts';

let postgres: TestPostgres;
before(async () => {
  postgres = await TestPostgres.start();
});
after(() => postgres?.destroy());

async function everything(store: BindingStore) {
  const apps = await store.listApps();
  const out = [];
  for (const app of apps) {
    const bindings = await allBindings(store, app.id);
    out.push({
      accessId: app.accessId,
      secretKey: app.secretKey,
      policy: app.policy,
      previous: app.previousSecretKey,
      bindings,
    });
  }
  return out;
}

describe('bindery copy and migrate', () => {
  it('copies every app and binding from SQLite to PostgreSQL, verifies, and can be re-run', async (t) => {
    const file = join(tempDir(t), 'source.db');
    const source = await SqliteStore.open(file);
    const a = await source.createApp({
      accessId: '1500000001',
      name: 'a',
      secretKey: 'a'.repeat(32),
      policy: DEFAULT_POLICY,
    });
    const b = await source.createApp({
      accessId: '1500000002',
      name: 'b',
      secretKey: 'b'.repeat(32),
      policy: { ...DEFAULT_POLICY, maxTokensPerAccount: 5, maxAccountsPerToken: 1, bindingRules: 'tpns' },
    });
    await source.updateApp(b.accessId, {
      previousSecretKey: 'c'.repeat(32),
      previousSecretExpiresAt: Date.now() + 60_000,
    });
    await source.importBindings(
      a.id,
      Array.from({ length: 12_345 }, (_, i) =>
        asBound({
          token: `tok-${i}`,
          account: `user-${i % 1000}`,
          accountType: i % 3,
          platform: i % 2 ? ('ios' as const) : null,
          boundAt: 1_700_000_000_000_000 + i,
        }),
      ),
    );
    await writeBatch(source, b.id, {
      elements: [{ op: 1, token: 'shared', accounts: [{ account: 'zoe', accountType: 0 }] }],
      platform: 'android',
      opType: null,
      opId: null,
    });
    const expected = await everything(source);
    await source.close();

    const url = await postgres.createDatabase();
    const first = cli(['copy', '--from', `sqlite:${file}`, '--to', url], {});
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /copying .* \| 12346\/12346 bindings/);
    assert.match(first.stdout, /copied 2 apps and 12346 bindings/);
    assert.match(first.stdout, /verified/);

    const again = cli(['copy', '--from', `sqlite:${file}`, '--to', url, '--json'], {});
    assert.equal(again.status, 0, again.stderr);
    const summary = JSON.parse(again.stdout) as Record<string, unknown>;
    assert.deepEqual([summary.apps, summary.bindings, summary.verified], [2, 12346, true]);

    const target = await PostgresStore.open(url, { timeoutMs: 2000, poolSize: 2 });
    t.after(() => target.close());
    assert.deepEqual(await everything(target), expected);
  });

  it('says when the counts differ because the target had other bindings', async (t) => {
    const file = join(tempDir(t), 'source.db');
    const source = await SqliteStore.open(file);
    const app = await source.createApp({
      accessId: '1500000001',
      name: 'a',
      secretKey: 'a'.repeat(32),
      policy: DEFAULT_POLICY,
    });
    await source.importBindings(app.id, [
      asBound({ token: 't1', account: 'alice', accountType: 0, platform: null, boundAt: 1 }),
    ]);
    await source.close();
    const url = await postgres.createDatabase();
    const target = await PostgresStore.open(url, { timeoutMs: 2000, poolSize: 2 });
    const other = await target.createApp({
      accessId: '1500000001',
      name: 'a',
      secretKey: 'a'.repeat(32),
      policy: DEFAULT_POLICY,
    });
    await target.importBindings(other.id, [
      asBound({ token: 'extra', account: 'bob', accountType: 0, platform: null, boundAt: 1 }),
    ]);
    await target.close();
    const result = cli(['copy', '--from', `sqlite:${file}`, '--to', url], {});
    assert.equal(result.status, 1);
    assert.match(result.stderr, /counts differ after the copy .*1500000001: source 1, target 2/);
  });

  it('migrate brings a database up to date and says so; a bad URL is explained', async () => {
    const url = await postgres.createDatabase();
    const empty = cli(['app', 'list'], { BINDERY_DATABASE_URL: url });
    assert.equal(empty.status, 2, 'a database without the schema is not silently set up by a read');
    assert.match(
      empty.stderr,
      /the PostgreSQL database postgres:\/\/postgres:\*\*\*@.* has no bindery schema: check BINDERY_DATABASE_URL, or run `bindery migrate`/,
    );
    const migrated = cli(['migrate'], { BINDERY_DATABASE_URL: url });
    assert.equal(migrated.status, 0, migrated.stderr);
    assert.match(migrated.stdout, /the postgres schema of postgres:\/\/postgres:\*\*\*@.* is up to date/);
    assert.equal(
      cli(['app', 'list', '--json'], { BINDERY_DATABASE_URL: url }).stdout,
      '[]\n',
      'after migrate it is a store',
    );
    const unreachable = cli(['migrate'], {
      BINDERY_DATABASE_URL: 'postgres://postgres:x@127.0.0.1:1/none',
      BINDERY_STORE_TIMEOUT_MS: '500',
    });
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /cannot open the PostgreSQL database/);
  });
});
