/**
 * A deleted app's credentials write nothing, ever: app ids are never reused, and the transaction
 * that applies a write finds its app by id (gone: AppNotFound, answered 1008003). Two processes on
 * one SQLite file: a server taking writes, and this process deleting the app and creating another.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { AppService } from '../../src/domain/app-service.ts';
import { DEFAULT_POLICY } from '../../src/model/types.ts';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/sqlite-schema.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../support/helpers.ts';
import { basicHeader, startServer, stopServer } from '../support/server-process.ts';
import { WriteLoad } from '../support/write-load.ts';

describe('deleted apps', () => {
  it(
    "a deleted app's cached credentials never write into the app created after it (two processes, one " + 'file)',
    async (t) => {
      const file = join(tempDir(t), 'bindery.db');
      const store = await SqliteStore.open(file);
      t.after(() => store.close());
      const service = new AppService(store, 0);
      const doomed = await service.create({ name: 'doomed' });
      const server = await startServer({
        BINDERY_DATABASE_URL: `sqlite:${file}`,
        BINDERY_BOOTSTRAP_APP: 'false',
        BINDERY_LOG_LEVEL: 'warn',
      });
      t.after(() => stopServer(server));

      const load = new WriteLoad(server.url, basicHeader(doomed.accessId, doomed.secretKey), 4);
      load.start();
      let deletedAt = 0;
      let successor: Awaited<ReturnType<AppService['create']>>;
      try {
        await load.acknowledgedAfter(0, 20);
        // Delete and create back to back: the server still holds the doomed app in its 1 s cache.
        assert.equal(await store.deleteApp(doomed.accessId), true);
        deletedAt = Date.now();
        successor = await service.create({ name: 'successor' });
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        await load.stop();
      }
      assert.deepEqual(
        await store.countBindings(successor.id),
        { bindings: 0, tokens: 0, accounts: 0, quarantined: 0 },
        'nothing was written into the new app',
      );
      assert.notEqual(successor.id, doomed.id, 'the new app got an id of its own');
      const after = load.answers.filter((a) => a.started > deletedAt);
      assert.ok(after.length > 0, 'writes were sent after the delete');
      assert.deepEqual(
        after
          .filter((a) => a.status !== 401)
          .map((a) => [a.status, a.retCode])
          .slice(0, 5),
        [],
        'every write after the delete is refused as unauthenticated',
      );
      assert.ok(after.every((a) => a.retCode === 1008003));
      t.diagnostic(
        `${after.length} writes with the deleted app's credentials after its delete: all refused, 0 bindings in the new ` +
          `app`,
      );
    },
  );

  it('an existing database migrates to ids that are never reused, keeping every app and its id', async (t) => {
    const file = join(tempDir(t), 'bindery.db');
    // A database as bindery 4 left it.
    const old = new Database(file);
    old.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= 4)) {
      old.exec(m.sql);
      old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    }
    old.exec(`INSERT INTO apps (id, access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token, created_at, revision)
      VALUES (1, '1500000001', 'one', 'k1', 100, 10, 0, 7), (5, '1500000005', 'five', 'k5', 3, 1, 0, 2)`);
    old.close();

    const store = await SqliteStore.open(file);
    t.after(() => store.close());
    const one = await store.findApp('1500000001');
    const five = await store.findApp('1500000005');
    assert.deepEqual(
      [one?.id, one?.secretKey, five?.id, five?.policy],
      [1, 'k1', 5, { ...DEFAULT_POLICY, maxTokensPerAccount: 3, maxAccountsPerToken: 1 }],
    );
    const service = new AppService(store, 0);
    const six = await service.create({ name: 'six' });
    assert.equal(six.id, 6);
    await store.deleteApp(six.accessId);
    const seven = await service.create({ name: 'seven' });
    assert.equal(seven.id, 7, 'the id of the deleted newest app is not handed out again');
  });
});
