/**
 * The migration runner's promises on both stores (src/store/migrations.ts): a database a newer
 * release migrated is used when its migrations keep this release working and refused, with both
 * versions and the way back, when they do not; SQLite takes a copy before it migrates a file;
 * `bindery migrate --status` changes nothing; on PostgreSQL a migration waits for a table lock only
 * briefly, so the other instances' statements are not queued behind it for long.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import pg from 'pg';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { StoreError } from '../../src/model/errors.ts';
import { SchemaTooNewError } from '../../src/store/migrations.ts';
import { SQL as PG } from '../../src/store/postgres/postgres-queries.ts';
import {
  migratePostgres,
  POSTGRES_MIGRATIONS,
  POSTGRES_SCHEMA_VERSION,
} from '../../src/store/postgres/postgres-schema.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { inspectBackup } from '../../src/store/sqlite/sqlite-backup.ts';
import { SQL as LITE } from '../../src/store/sqlite/sqlite-queries.ts';
import { SQLITE_SCHEMA_VERSION } from '../../src/store/sqlite/sqlite-schema.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { bindTo, sqliteAt, tempDir } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { cli } from '../support/server-process.ts';

const OPTIONS = { timeoutMs: 5000, poolSize: 2 };
const require = createRequire(import.meta.url);
/** The versions from `first` to `last`. */
const fromTo = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function logLines() {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) } };
}

/** Records a migration of a newer release; with `oldestReader`, one that contracts the schema. */
function newerSqlite(path: string, oldestReader?: number): void {
  const db = new Database(path);
  db.prepare(LITE.migrationRecord).run(SQLITE_SCHEMA_VERSION + 1, 'a newer release', Date.now());
  if (oldestReader !== undefined) db.prepare(LITE.oldestReaderRecord).run(oldestReader);
  db.close();
}

describe('SQLite migrations', () => {
  it('copies a file before migrating it, keeps only the newest copy, and the copy restores the old schema', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'bindery.db');
    sqliteAt(path, 9);
    writeFileSync(`${path}.schema-7.backup`, 'a copy from an earlier upgrade');
    const { lines, log } = logLines();
    const store = await SqliteStore.open(path, 'FULL', log);
    await store.close();
    const copy = `${path}.schema-9.backup`;
    assert.ok(existsSync(copy), `no copy among ${readdirSync(dir).join(', ')}`);
    assert.ok(
      lines.some((l) => l.startsWith('info SQLite: copied') && l.includes(copy)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.includes(`from version 9 to ${SQLITE_SCHEMA_VERSION}`)),
      lines.join('\n'),
    );
    const held = inspectBackup(copy);
    assert.equal(held.schemaVersion, 9, 'the copy is the file as it was');
    assert.equal(held.bindings, 1);

    // Only the newest copy is kept; a file already at this schema is not copied again.
    const copies = () => readdirSync(dir).filter((f) => f.includes('.schema-'));
    assert.deepEqual(copies(), ['bindery.db.schema-9.backup']);
    const taken = statSync(copy).mtimeMs;
    await (await SqliteStore.open(path)).close();
    assert.deepEqual(copies(), ['bindery.db.schema-9.backup']);
    assert.equal(statSync(copy).mtimeMs, taken);
  });

  it("copies a file another process is writing to: the copy holds a prefix of its commits, the WAL's included", async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'bindery.db');
    sqliteAt(path, 9);
    // Another connection commits a binding after another, its WAL never checkpointed: the newest
    // commits are only in the WAL when the copy is taken.
    const counter = new Int32Array(new SharedArrayBuffer(8));
    const writer = new Worker(
      `const { workerData } = require('node:worker_threads');
       const Database = require(workerData.module);
       const db = new Database(workerData.path);
       db.pragma('journal_mode = WAL');
       db.pragma('busy_timeout = 20000');
       db.pragma('wal_autocheckpoint = 0');
       const put = db.prepare("INSERT INTO bindings (app_id, token, account, account_type, bound_at) VALUES (1, ?, 'bob', 0, 2)");
       for (let i = 0; Atomics.load(workerData.counter, 1) === 0; i++) {
         put.run('w' + i);
         Atomics.store(workerData.counter, 0, i + 1);
       }
       db.close();`,
      { eval: true, workerData: { path, counter, module: require.resolve('better-sqlite3') } },
    );
    const failed = new Promise((_, reject) => writer.once('error', reject));
    while (Atomics.load(counter, 0) < 300) await sleep(5);
    const before = Atomics.load(counter, 0);
    const store = await Promise.race([SqliteStore.open(path), failed as Promise<never>]);
    const after = Atomics.load(counter, 0);
    await sleep(50);
    assert.ok(Atomics.load(counter, 0) > after, 'the other process kept committing after the migration');
    Atomics.store(counter, 1, 1);
    await new Promise((resolve) => writer.once('exit', resolve));
    const written = Atomics.load(counter, 0);
    await store.close();

    const copy = inspectBackup(`${path}.schema-9.backup`); // integrity_check: ok, or it throws
    assert.equal(copy.schemaVersion, 9);
    assert.ok(
      copy.bindings - 1 >= before && copy.bindings - 1 <= after,
      `the copy holds ${copy.bindings - 1} of the other process's bindings: not between ${before} and ${after}`,
    );
    const held = new Database(`${path}.schema-9.backup`, { readonly: true });
    const last = held
      .prepare("SELECT max(CAST(substr(token, 2) AS INTEGER)) FROM bindings WHERE token LIKE 'w%'")
      .pluck()
      .get();
    held.close();
    assert.equal(last, copy.bindings - 2, 'the copy holds the first commits without a gap');
    const live = new Database(path, { readonly: true });
    assert.equal(
      live.prepare('SELECT count(*) FROM bindings').pluck().get(),
      written + 1,
      'every commit is in the store',
    );
    live.close();
  });

  it('a new file is not copied (there is nothing to go back to)', async (t) => {
    const dir = tempDir(t);
    await (await SqliteStore.open(join(dir, 'new.db'))).close();
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.schema-')),
      [],
    );
  });

  it("uses a file a newer release migrated when that release's migrations keep this one working", async (t) => {
    const path = join(tempDir(t), 'bindery.db');
    sqliteAt(path, SQLITE_SCHEMA_VERSION);
    newerSqlite(path);
    const { lines, log } = logLines();
    const store = await SqliteStore.open(path, 'FULL', log);
    t.after(() => store.close());
    assert.ok(
      lines.some((l) => l.startsWith('warn') && l.includes(`schema version ${SQLITE_SCHEMA_VERSION + 1}, newer`)),
      lines.join('\n'),
    );
    await writeBatch(store, 1, bindTo('tablet', 'bob'));
    assert.deepEqual(
      (await store.tokensOfAccounts(1, [{ account: 'bob', accountType: 0 }]))[0]?.map((b) => b.token),
      ['tablet'],
    );
  });

  it('refuses a file whose newer migrations need newer code, naming both versions and the way back', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'bindery.db');
    sqliteAt(path, 9);
    await (await SqliteStore.open(path)).close(); // migrated by this release: the copy at schema 9 is beside it
    newerSqlite(path, SQLITE_SCHEMA_VERSION + 1);
    await assert.rejects(SqliteStore.open(path), (error: unknown) => {
      assert.ok(error instanceof SchemaTooNewError, String(error));
      assert.match(error.message, new RegExp(`schema version ${SQLITE_SCHEMA_VERSION + 1}`));
      assert.match(error.message, new RegExp(`this bindery knows schema ${SQLITE_SCHEMA_VERSION}`));
      assert.match(error.message, /bindery backup restore .*bindery\.db\.schema-9\.backup/);
      return true;
    });
    // The command the message names puts the old file back, and this release migrates it again.
    const restored = cli(['backup', 'restore', `${path}.schema-9.backup`], { BINDERY_DATABASE_URL: `sqlite:${path}` });
    assert.equal(restored.status, 0, restored.stderr);
    const store = await SqliteStore.open(path);
    t.after(() => store.close());
    assert.deepEqual(
      (await store.tokensOfAccounts(1, [{ account: 'alice', accountType: 0 }]))[0]?.map((b) => b.token),
      ['phone'],
    );
  });

  it('migrate --status lists applied and pending migrations and changes nothing', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'bindery.db');
    const env = { BINDERY_DATABASE_URL: `sqlite:${path}` };
    const missing = cli(['migrate', '--status', '--json'], env);
    assert.equal(missing.status, 0, missing.stderr);
    assert.equal(JSON.parse(missing.stdout).pending.length, SQLITE_SCHEMA_VERSION);
    assert.equal(existsSync(path), false, 'no file was made');

    sqliteAt(path, 8);
    const before = new Database(path).prepare('SELECT count(*) AS n FROM schema_migrations').get();
    const text = cli(['migrate', '--status'], env);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`is at schema 8; ${SQLITE_SCHEMA_VERSION - 8} pending`));
    assert.match(text.stdout, /applied\s+8\s+history indexes by slice of ids/);
    assert.match(text.stdout, /pending\s+9\s+what a rewind needs/);
    assert.deepEqual(new Database(path).prepare('SELECT count(*) AS n FROM schema_migrations').get(), before);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f !== 'bindery.db'),
      [],
      'no copy, no WAL: nothing was opened for writing',
    );
  });
});

describe('PostgreSQL migrations', () => {
  let server: TestPostgres;
  before(async () => {
    server = await TestPostgres.start();
  });
  after(() => server?.destroy());

  /** A database as the release of schema `version` left it, holding one app. */
  async function postgresAt(version: number): Promise<{ url: string; client: pg.Client }> {
    const url = await server.createDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(PG.migrationsTable);
    for (const m of POSTGRES_MIGRATIONS.filter((m) => m.version <= version)) {
      await client.query(m.sql);
      await client.query(PG.migrationRecord, [m.version, m.name, Date.now()]);
    }
    await client.query(`INSERT INTO apps (access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token,
      created_at) VALUES ('1500000001', 'one', '${'k'.repeat(32)}', 100, 10, 0)`);
    return { url, client };
  }

  it('uses a database a newer release migrated when it keeps this release working, refuses it when not', async () => {
    const { url, client } = await postgresAt(POSTGRES_SCHEMA_VERSION);
    await client.query(PG.migrationRecord, [POSTGRES_SCHEMA_VERSION + 1, 'a newer release', Date.now()]);
    const { lines, log } = logLines();
    const store = await PostgresStore.open(url, { ...OPTIONS, log });
    assert.ok(
      lines.some((l) => l.startsWith('warn') && l.includes('newer than this release')),
      lines.join('\n'),
    );
    await writeBatch(store, 1, bindTo('phone', 'alice'));
    assert.equal((await store.countBindings(1)).bindings, 1);
    await store.close();

    await client.query(PG.oldestReaderRecord, [POSTGRES_SCHEMA_VERSION + 1]);
    await client.end();
    await assert.rejects(PostgresStore.open(url, OPTIONS), (error: unknown) => {
      assert.ok(error instanceof StoreError, String(error));
      assert.match(error.message, new RegExp(`schema version ${POSTGRES_SCHEMA_VERSION + 1}`));
      assert.match(error.message, new RegExp(`this bindery knows schema ${POSTGRES_SCHEMA_VERSION}`));
      assert.match(error.message, /run the release that migrated it/);
      return true;
    });
  });

  it('migrate --status lists applied and pending migrations and changes nothing', async () => {
    const { url, client } = await postgresAt(7);
    const status = cli(['migrate', '--status', '--json'], { BINDERY_DATABASE_URL: url });
    assert.equal(status.status, 0, status.stderr);
    const parsed = JSON.parse(status.stdout) as { applied: { version: number }[]; pending: { version: number }[] };
    assert.deepEqual(
      parsed.applied.map((m) => m.version),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual(
      parsed.pending.map((m) => m.version),
      fromTo(8, POSTGRES_SCHEMA_VERSION),
    );
    const { rows } = await client.query('SELECT max(version) AS v FROM schema_migrations');
    assert.equal(rows[0].v, 7);
    await client.end();
    const empty = await server.createDatabase();
    const fresh = cli(['migrate', '--status'], { BINDERY_DATABASE_URL: empty });
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stdout, new RegExp(`is at schema 0; ${POSTGRES_SCHEMA_VERSION} pending`));
    const probe = new pg.Client({ connectionString: empty });
    await probe.connect();
    assert.equal((await probe.query(PG.schemaExists)).rows[0].found, false, 'no table was made');
    await probe.end();
  });

  /**
   * Another instance's long transaction holds the apps table (as a running release does) while
   * migration 8 needs it: with short lock waits, the statements of others go on between attempts;
   * with one long wait (what no lock_timeout amounts to), every one of them queues behind the
   * migration until the transaction ends.
   */
  async function underHeldLock(attempts: readonly number[]) {
    const { url, client: holder } = await postgresAt(7);
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM apps');
    const migrator = new pg.Client({ connectionString: url });
    const reader = new pg.Client({ connectionString: url });
    await Promise.all([migrator.connect(), reader.connect()]);
    const warnings: string[] = [];
    const migration = migratePostgres(
      migrator as unknown as pg.PoolClient,
      { warn: (m) => warnings.push(m) },
      attempts,
    );
    migration.catch(() => undefined);
    await sleep(200); // the migration is waiting for the lock
    let readsDuringHold = 0;
    let holding = true;
    const reads = (async () => {
      while (holding) {
        await reader.query('SELECT count(*) FROM apps');
        if (holding) readsDuringHold++;
      }
    })();
    await sleep(1500);
    holding = false;
    await holder.query('COMMIT');
    await reads;
    const result = await migration.then(
      (r) => r,
      (error: Error) => error,
    );
    await Promise.all([holder.end(), migrator.end(), reader.end()]);
    return { readsDuringHold, result, warnings };
  }

  it('a migration waits for a table lock briefly and tries again, so other statements are not queued behind it', async () => {
    const short = await underHeldLock([50, 100, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]);
    assert.ok(!(short.result instanceof Error), String(short.result));
    assert.deepEqual(
      short.result.applied,
      fromTo(8, POSTGRES_SCHEMA_VERSION),
      'it migrated once the transaction ended',
    );
    assert.ok(short.warnings.length >= 2, `it rolled back and retried: ${short.warnings.join('; ')}`);
    assert.ok(short.readsDuringHold > 0, 'other statements ran while the lock was held');

    const long = await underHeldLock([60_000]);
    assert.ok(!(long.result instanceof Error), String(long.result));
    assert.equal(long.readsDuringHold, 0, 'with one long wait every other statement queued behind the migration');
  });

  it('gives up after its attempts, saying what holds the table and what to do', async () => {
    const given = await underHeldLock([50, 50, 50]);
    assert.ok(given.result instanceof StoreError, String(given.result));
    assert.match(given.result.message, /waited for a table lock 3 times .* pg_stat_activity/);
    assert.ok(given.readsDuringHold > 0);
  });
});
