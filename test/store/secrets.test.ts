/**
 * The apps' secrets at rest, on both stores (src/store/secret-box.ts, secrets-at-rest.ts): with
 * BINDERY_SECRETS_KEY no secret is in the database file or in a pg_dump, yet every read gives it
 * back; secrets stored in clear text by an earlier start are sealed at the next start with a key;
 * a store whose secrets need a key not given refuses to open and names the key's id; a sealed value
 * copied into another app does not open; rotation moves every secret to the new key, and back to
 * clear text. PostgreSQL here is Debian's 15, whose pg_dump the test runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { writeBatch } from '../../src/domain/run-batch.ts';
import { StoreError } from '../../src/model/errors.ts';
import type { BindingStore } from '../../src/model/store.ts';
import { DEFAULT_POLICY } from '../../src/model/types.ts';
import { migrationStatusOf, openStore, type StoreSettings } from '../../src/store/open-store.ts';
import { POSTGRES_SEALED_SECRETS } from '../../src/store/postgres/postgres-schema.ts';
import { SecretBox, secretsKey } from '../../src/store/secret-box.ts';
import { countSecrets, rewriteSecrets } from '../../src/store/secrets-at-rest.ts';
import { SQLITE_SEALED_SECRETS } from '../../src/store/sqlite/sqlite-schema.ts';
import { bindTo, sqliteAt, tempDir } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';

const PG15 = '/usr/lib/postgresql/15/bin';
const K1 = randomBytes(32);
const K2 = randomBytes(32);
const ID1 = secretsKey(K1).id;
const ID2 = secretsKey(K2).id;

const SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const OLD_SECRET = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const WEBHOOK_SECRET = `whsec_${'5e'.repeat(24)}`;

function logLines() {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) } };
}

interface Kind {
  name: 'sqlite' | 'postgres';
  /** A new empty store's URL. */
  fresh(t: TestContext): Promise<string>;
  /** Everything an attacker with the database's files (SQLite) or a dump (PostgreSQL) reads. */
  bytes(url: string): string;
  /** Runs SQL on the database behind bindery's back. */
  sql(url: string, statement: string): Promise<void>;
  sealedVersion: number;
}

let postgres: TestPostgres | undefined;

const KINDS: Kind[] = [
  {
    name: 'sqlite',
    fresh: async (t) => `sqlite:${join(tempDir(t), 'bindery.db')}`,
    bytes: (url) => {
      const path = url.slice('sqlite:'.length);
      return [path, `${path}-wal`]
        .filter(existsSync)
        .map((file) => readFileSync(file).toString('latin1'))
        .join('');
    },
    sql: async (url, statement) => {
      const db = new Database(url.slice('sqlite:'.length));
      db.exec(statement);
      db.close();
    },
    sealedVersion: SQLITE_SEALED_SECRETS,
  },
  {
    name: 'postgres',
    fresh: async () => {
      postgres ??= await TestPostgres.start({ bin: PG15 });
      return postgres.createDatabase();
    },
    bytes: (url) => {
      const dump = spawnSync(join(PG15, 'pg_dump'), ['--dbname', url], { encoding: 'utf8' });
      assert.equal(dump.status, 0, dump.stderr);
      assert.match(dump.stdout, /CREATE TABLE public\.apps/, 'the dump holds the apps table');
      return dump.stdout;
    },
    sql: async (url, statement) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(statement);
      await client.end();
    },
    sealedVersion: POSTGRES_SEALED_SECRETS,
  },
];

after(() => postgres?.stop());

const settingsOf = (url: string, key: Buffer | null, previous: Buffer | null = null): StoreSettings => ({
  databaseUrl: url,
  storeTimeoutMs: 5000,
  pgPoolSize: 2,
  secretsKey: key,
  secretsPreviousKey: previous,
});

async function withStore<T>(
  url: string,
  keys: [Buffer | null, (Buffer | null)?],
  run: (store: BindingStore) => Promise<T>,
  log?: ReturnType<typeof logLines>['log'],
): Promise<T> {
  const store = await openStore(settingsOf(url, keys[0], keys[1] ?? null), log ? { log } : {});
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

/** An app with every kind of secret, made the way an admin would: created, changed, rotated, a webhook set. */
async function appWithSecrets(store: BindingStore, accessId: string): Promise<void> {
  await store.createApp({ accessId, name: 'secrets', secretKey: OLD_SECRET, policy: DEFAULT_POLICY });
  await store.updateApp(accessId, { name: 'renamed' });
  await store.updateApp(accessId, {
    secretKey: SECRET,
    previousSecretKey: OLD_SECRET,
    previousSecretExpiresAt: Date.now() + 3_600_000,
  });
  await store.updateApp(accessId, { webhook: { url: 'https://hooks.example.com/bindery', secret: WEBHOOK_SECRET } });
}

const present = (text: string) => [SECRET, OLD_SECRET, WEBHOOK_SECRET].filter((s) => text.includes(s));

for (const kind of KINDS) {
  describe(`secrets at rest: ${kind.name}`, () => {
    before(async () => {
      if (kind.name === 'postgres') postgres ??= await TestPostgres.start({ bin: PG15 });
    });

    it('with a key, no secret is in the database, every read opens it, and a webhook event carries it', async (t) => {
      const url = await kind.fresh(t);
      const clear = logLines();
      await withStore(url, [null], (store) => appWithSecrets(store, '1500000001'), clear.log);
      assert.equal(clear.lines.filter((l) => l.includes('stored in clear text')).length, 1, clear.lines.join('\n'));
      // The control: without a key the secrets are there for anyone with the file or a dump.
      assert.deepEqual(present(kind.bytes(url)), [SECRET, OLD_SECRET, WEBHOOK_SECRET]);

      const sealing = logLines();
      await withStore(
        url,
        [K1],
        async (store) => {
          assert.deepEqual(countSecrets(await store.storedSecrets()), { clear: 0, sealed: { [ID1]: 3 } });
          const app = await store.findApp('1500000001');
          assert.equal(app?.secretKey, SECRET);
          assert.equal(app?.previousSecretKey, OLD_SECRET);
          assert.equal(app?.webhook?.secret, WEBHOOK_SECRET);
          // A new app, and an event for its webhook: sealed when written, opened when read.
          await store.createApp({ accessId: '1500000002', name: 'new', secretKey: SECRET, policy: DEFAULT_POLICY });
          await writeBatch(store, app!.id, bindTo('phone', 'alice'));
          const [event] = await store.claimWebhookEvents(Date.now() + 1000, 60_000, 10);
          assert.equal(event?.secret, WEBHOOK_SECRET);
          assert.equal((await store.listApps()).find((a) => a.accessId === '1500000002')?.secretKey, SECRET);
        },
        sealing.log,
      );
      assert.ok(
        sealing.lines.some((l) => l.startsWith(`info sealed 3 app secrets`) && l.includes(ID1)),
        sealing.lines.join('\n'),
      );
      assert.ok(!sealing.lines.some((l) => l.includes('clear text (no')), 'no clear-text warning with a key');
      assert.deepEqual(present(kind.bytes(url)), [], 'no secret, current or old, is left in the database');
      assert.equal((await migrationStatusOf(settingsOf(url, null))).oldestReader, kind.sealedVersion);
    });

    it('refuses to open without the key, or with another, naming the id of the key it needs', async (t) => {
      const url = await kind.fresh(t);
      await withStore(url, [K1], (store) => appWithSecrets(store, '1500000001'));
      for (const keys of [[null], [K2]] as [Buffer | null][]) {
        await assert.rejects(openStore(settingsOf(url, ...keys)), (error: unknown) => {
          assert.ok(error instanceof StoreError, String(error));
          assert.match(error.message, new RegExp(`sealed under the secrets key with id ${ID1}`));
          assert.match(
            error.message,
            keys[0] ? new RegExp(`BINDERY_SECRETS_KEY has id ${ID2}`) : /no BINDERY_SECRETS_KEY/,
          );
          return true;
        });
      }
      // Nothing was changed by the refusals: the right key still opens every secret.
      await withStore(url, [K1], async (store) => assert.equal((await store.findApp('1500000001'))?.secretKey, SECRET));
    });

    it("a sealed secret copied into another app's row does not open", async (t) => {
      const url = await kind.fresh(t);
      await withStore(url, [K1], async (store) => {
        await store.createApp({ accessId: '1500000001', name: 'a', secretKey: SECRET, policy: DEFAULT_POLICY });
        await store.createApp({ accessId: '1500000002', name: 'b', secretKey: OLD_SECRET, policy: DEFAULT_POLICY });
      });
      await kind.sql(
        url,
        "UPDATE apps SET secret_key = (SELECT secret_key FROM apps WHERE access_id = '1500000001') WHERE access_id = '1500000002'",
      );
      await assert.rejects(
        openStore(settingsOf(url, K1)),
        /app 1500000002's secret_key does not open .*copied from another app/,
      );
    });

    it('rotate-key moves every secret to the new key while the old one opens them; then to clear text', async (t) => {
      const url = await kind.fresh(t);
      await withStore(url, [K1], async (store) => {
        await appWithSecrets(store, '1500000001');
        await appWithSecrets(store, '1500000002');
      });
      // Opening with the new key and the old as previous changes nothing by itself.
      await withStore(url, [K2, K1], async (store) => {
        assert.deepEqual(countSecrets(await store.storedSecrets()), { clear: 0, sealed: { [ID1]: 6 } });
        assert.equal(await rewriteSecrets(store, new SecretBox(secretsKey(K2), secretsKey(K1))), 6);
        assert.deepEqual(countSecrets(await store.storedSecrets()), { clear: 0, sealed: { [ID2]: 6 } });
        assert.equal(
          await rewriteSecrets(store, new SecretBox(secretsKey(K2), secretsKey(K1))),
          0,
          'a second run has nothing to do',
        );
      });
      await withStore(url, [K2], async (store) =>
        assert.equal((await store.findApp('1500000002'))?.webhook?.secret, WEBHOOK_SECRET),
      );
      await assert.rejects(openStore(settingsOf(url, K1)), new RegExp(`key with id ${ID2}`));

      // The way back: no current key, the last one as previous.
      await withStore(url, [null, K2], async (store) => {
        assert.equal(await rewriteSecrets(store, new SecretBox(null, secretsKey(K2))), 6);
      });
      await withStore(url, [null], async (store) => {
        assert.deepEqual(countSecrets(await store.storedSecrets()), { clear: 6, sealed: {} });
        assert.equal((await store.findApp('1500000001'))?.previousSecretKey, OLD_SECRET);
      });
    });
  });
}

describe('secrets at rest: an SQLite file from an early release', () => {
  it('keeps no clear-text copy in the space its migrations freed once its secrets are sealed', async (t) => {
    // Schema 4's apps table is rebuilt by migration 5: the old table's pages, secrets and all, are freed.
    const path = join(tempDir(t), 'bindery.db');
    sqliteAt(path, 4, SECRET);
    const { lines, log } = logLines();
    await withStore(
      `sqlite:${path}`,
      [K1],
      async (store) => {
        assert.equal((await store.findApp('1500000001'))?.secretKey, SECRET);
        assert.deepEqual(present(KINDS[0]!.bytes(`sqlite:${path}`)), [], 'nothing readable while it serves');
      },
      log,
    );
    assert.deepEqual(present(KINDS[0]!.bytes(`sqlite:${path}`)), []);
    assert.ok(
      lines.some((l) => l.includes('so that no clear-text copy')),
      lines.join('\n'),
    );
  });
});
