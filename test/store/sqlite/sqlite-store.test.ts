import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { writeBatch } from '../../../src/domain/run-batch.ts';
import { StoreError } from '../../../src/errors.ts';
import type { BindingStore } from '../../../src/model/store.ts';
import { SQL } from '../../../src/store/sqlite/sqlite-queries.ts';
import { SQLITE_MIGRATIONS } from '../../../src/store/sqlite/sqlite-schema.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import { MAX_AGE_MS } from '../../../src/store/sqlite/sqlite-turn-snapshot.ts';
import { bindTo, sqliteStoreWithApp, tempDir } from '../../support/helpers.ts';
import { storeContract } from '../store-contract.ts';

storeContract('SQLite', {
  async open(t) {
    const path = join(tempDir(t), 'bindery.db');
    let current: BindingStore = await SqliteStore.open(path);
    t.after(() => current.close());
    return {
      store: current,
      reopen: async () => {
        await current.close();
        current = await SqliteStore.open(path);
        return current;
      },
    };
  },
});

describe('SqliteStore specifics', () => {
  it('leaves the database in WAL mode (readers never wait for the writer)', async (t) => {
    const path = join(tempDir(t), 'bindery.db');
    const store = await SqliteStore.open(path);
    t.after(() => store.close());
    const db = new Database(path, { readonly: true });
    t.after(() => db.close());
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  });

  it('migrates an existing history to the sliced indexes, and finds in it what it found before', async (t) => {
    const path = join(tempDir(t), 'bindery.db');
    // A database as bindery left it at schema 7, with history rows thousands of ids apart.
    const old = new Database(path);
    old.exec(SQL.migrationsTable);
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= 7)) {
      old.exec(m.sql);
      old.prepare(SQL.migrationRecord).run(m.version, m.name, Date.now());
    }
    old.exec(`INSERT INTO apps (id, access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token, created_at)
      VALUES (1, '1500000001', 'one', 'k1', 100, 10, 0)`);
    const row = old.prepare(`INSERT INTO history (id, app_id, at, operator_type, cause, token, account, account_type)
      VALUES (?, 1, ?, 1, 'bind', ?, ?, 0)`);
    for (const [id, token, account] of [
      [5, 'phone', 'alice'],
      [3000, 'tablet', 'alice'],
      [9000, 'phone', 'bob'],
    ]) {
      row.run(id, Date.now(), token, account);
    }
    old.close();

    const store = await SqliteStore.open(path);
    t.after(() => store.close());
    assert.deepEqual(
      (await store.history(1, { token: 'phone' }, 10)).map((e) => e.id),
      [9000, 5],
    );
    assert.deepEqual(
      (await store.history(1, { account: { account: 'alice', accountType: 0 } }, 10)).map((e) => e.id),
      [3000, 5],
    );
    const db = new Database(path, { readonly: true });
    t.after(() => db.close());
    const indexes = db
      .prepare("SELECT sql FROM sqlite_master WHERE name IN ('history_by_token', 'history_by_account')")
      .all();
    assert.equal(indexes.length, 2);
    assert.ok(
      indexes.every((i) => /\(id >> 10\)/.test((i as { sql: string }).sql)),
      JSON.stringify(indexes),
    );
  });

  it('commits concurrent writes together (group commit)', async (t) => {
    const { store, app } = await sqliteStoreWithApp(t);
    const before = { ...store.writeStats };
    const writes = Array.from({ length: 200 }, (_, i) => writeBatch(store, app.id, bindTo(`t${i}`, `u${i}`)));
    await Promise.all(writes);
    const commands = store.writeStats.commands - before.commands;
    const groups = store.writeStats.groups - before.groups;
    assert.equal(commands, 200);
    assert.ok(groups < 50, `200 concurrent writes took ${groups} commits`);
    assert.deepEqual(await store.countBindings(app.id), { bindings: 200, tokens: 200, accounts: 200, quarantined: 0 });
  });

  describe('reads of one event-loop turn share a read transaction', () => {
    it('a read right after an acknowledged write sees it, while other reads hold a snapshot in the same turns', async (t) => {
      const { store, app } = await sqliteStoreWithApp(t);
      // A reader in every turn's setImmediate: when a write is answered, a snapshot from before its commit is open.
      let reading = true;
      const reader = (async () => {
        while (reading) {
          await store.tokensOfAccounts(app.id, [{ account: 'nobody', accountType: 0 }]);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      try {
        for (let i = 0; i < 200; i++) {
          await writeBatch(store, app.id, bindTo(`t${i}`, `u${i}`));
          // Same turn as the answer: no event-loop phase in between.
          const [tokens] = await store.tokensOfAccounts(app.id, [{ account: `u${i}`, accountType: 0 }]);
          assert.deepEqual(
            tokens?.map((x) => x.token),
            [`t${i}`],
            `write ${i} was answered, then not seen by a read`,
          );
        }
      } finally {
        reading = false;
        await reader;
      }
    });

    it("sees another process's commit once the turn's snapshot is older than MAX_AGE_MS, within one turn", async (t) => {
      const { store, app, path } = await sqliteStoreWithApp(t);
      const other = new Database(path);
      t.after(() => other.close());
      other.pragma('busy_timeout = 5000');
      const carol = [{ account: 'carol', accountType: 0 }];
      // One synchronous run, so one turn: the first read opens the snapshot.
      const before = store.tokensOfAccounts(app.id, carol);
      other
        .prepare(
          'INSERT INTO bindings (app_id, token, account, account_type, platform, bound_at) VALUES (?, ?, ?, 0, NULL, 1)',
        )
        .run(app.id, 'tc', 'carol');
      const until = performance.now() + MAX_AGE_MS + 5;
      while (performance.now() < until);
      const after = store.tokensOfAccounts(app.id, carol);
      assert.deepEqual((await before)[0], []);
      assert.deepEqual(
        (await after)[0]?.map((x) => x.token),
        ['tc'],
      );
    });
  });

  it('looks accounts up through the account index, never by scanning the app', async (t) => {
    const path = join(tempDir(t), 'bindery.db');
    await (await SqliteStore.open(path)).close();
    const db = new Database(path, { readonly: true });
    t.after(() => db.close());
    for (const sql of [SQL.tokensOfAccount, SQL.bindingsOfAccount]) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1, 'alice', 0) as { detail: string }[])
        .map((row) => row.detail)
        .join('; ');
      assert.match(
        plan,
        /USING (COVERING )?INDEX bindings_by_account \(app_id=\? AND account=\? AND account_type=\?\)/,
        plan,
      );
    }
  });

  it('when the writer thread dies, writes fail fast as unavailable and ping fails', async (t) => {
    const { store, app } = await sqliteStoreWithApp(t);
    const worker = Reflect.get(store, 'worker') as Worker;
    await worker.terminate();
    const write = writeBatch(store, app.id, {
      elements: [{ op: 4, token: 't' }],
      platform: null,
      opType: null,
      opId: null,
    });
    await assert.rejects(write, (error: unknown) => error instanceof StoreError && error.unavailable);
    await assert.rejects(store.ping(), /writer thread exited/);
    assert.deepEqual(
      await store.tokensOfAccounts(app.id, [{ account: 'alice', accountType: 0 }]),
      [[]],
      'reads still work',
    );
  });

  it('says which file it could not open', async (t) => {
    const dir = tempDir(t);
    const notADb = join(dir, 'garbage.db');
    writeFileSync(notADb, 'this is not a database, just text long enough to have a header page '.repeat(20));
    await assert.rejects(SqliteStore.open(notADb), /garbage\.db/);
  });
});
