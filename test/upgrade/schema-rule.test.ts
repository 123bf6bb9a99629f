/**
 * The rule for schema changes (ARCHITECTURE.md, "Schema changes"): every migration leaves the schema
 * usable by the previous release's code. Enforced by running the previous release's own store
 * contract suite, its code and its tests from git history (test/support/previous-release.ts), on
 * databases this release created and migrated: on SQLite and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SQLITE_SEALED_SECRETS } from '../../src/store/sqlite/sqlite-schema.ts';
import { tempDir } from '../support/helpers.ts';
import { ALLOW_NEWER, previousRelease, ROOT } from '../support/previous-release.ts';
import { cli } from '../support/server-process.ts';

/**
 * Written into the previous release's test folder: its contract suite with a factory that has this
 * release make each fresh database (migrated to this release's schema) before the previous
 * release's store opens it. It follows the factories of that release's own
 * test/store/{sqlite,postgres}/*-store.test.ts.
 */
const HARNESS = `// Written by the next release's test/upgrade/schema-rule.test.ts; not part of this release.
import { join } from 'node:path';
import { after, before } from 'node:test';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { storeContract } from './store-contract.ts';

const next = await import(process.env.NEXT_OPEN_STORE);
/** The next release opens (creating and migrating) the database, and closes it. */
const migrateByNext = async (databaseUrl) =>
  (await next.openStore({ databaseUrl, storeTimeoutMs: 5000, pgPoolSize: 2 })).close();

function factory(location, open) {
  return {
    async open(t) {
      const where = await location(t);
      await migrateByNext(where.url);
      let current = await open(where);
      t.after(() => current.close());
      return {
        store: current,
        reopen: async () => {
          await current.close();
          current = await open(where);
          return current;
        },
      };
    },
  };
}

if (process.env.NEXT_BACKEND === 'sqlite') {
  storeContract(
    'SQLite, migrated by the next release',
    factory(
      (t) => {
        const path = join(tempDir(t), 'bindery.db');
        return { url: 'sqlite:' + path, path };
      },
      (where) => SqliteStore.open(where.path),
    ),
  );
} else {
  let server;
  before(async () => {
    server = await TestPostgres.start();
  });
  after(() => server?.destroy());
  const OPTIONS = { timeoutMs: 2000, poolSize: 5 };
  storeContract(
    'PostgreSQL, migrated by the next release',
    factory(
      async () => ({ url: await server.createDatabase() }),
      (where) => PostgresStore.open(where.url, OPTIONS),
    ),
  );
}
`;

interface SuiteRun {
  status: number;
  tests: number;
  pass: number;
  fail: number;
  output: string;
}

function runPreviousSuite(dir: string, backend: 'sqlite' | 'postgres'): Promise<SuiteRun> {
  // Its own test runner, not a child of this one.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      // A test the schema breaks may hang rather than fail: each gets 30 s, the whole run 4 minutes
      // (it takes 25 s), and the runner exits when its tests are done even if a store was left open.
      [
        '--import',
        'tsx',
        '--test',
        '--test-reporter=spec',
        '--test-timeout=30000',
        '--test-force-exit',
        `test/store/next-schema-${backend}.test.ts`,
      ],
      {
        cwd: dir,
        env: {
          ...env,
          [ALLOW_NEWER]: '1',
          NEXT_BACKEND: backend,
          NEXT_OPEN_STORE: pathToFileURL(join(ROOT, 'src/store/open-store.ts')).href,
        },
      },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 4 * 60_000);
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('close', (code) => {
      clearTimeout(timer);
      const count = (name: string) => Number(new RegExp(`ℹ ${name} (\\d+)`).exec(output)?.[1] ?? -1);
      resolve({ status: code ?? -1, tests: count('tests'), pass: count('pass'), fail: count('fail'), output });
    });
  });
}

describe('every migration leaves the schema usable by the previous release', { concurrency: 2 }, () => {
  const release = previousRelease();
  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`the previous release's store contract suite passes on ${backend} migrated by this release`, async (t) => {
      writeFileSync(join(release.dir, `test/store/next-schema-${backend}.test.ts`), HARNESS);
      const run = await runPreviousSuite(release.dir, backend);
      const failures = run.output
        .split('\n')
        .filter((line) => line.includes('✖'))
        .slice(0, 20)
        .join('\n');
      t.diagnostic(
        `previous release ${release.version} (${release.commit.slice(0, 12)}): ${run.pass} of ${run.tests} passed`,
      );
      assert.equal(
        run.fail,
        0,
        `the previous release failed on this release's schema:\n${failures}\n${run.output.slice(-3000)}`,
      );
      assert.equal(run.status, 0, run.output.slice(-3000));
      // The suite ran for real: the previous release's contract has 50 tests.
      assert.ok(run.tests >= 40, `only ${run.tests} tests ran:\n${run.output.slice(-3000)}`);
    });
  }
});

describe('sealed secrets and the previous release', () => {
  it('the previous release refuses a store whose secrets are sealed, naming the schema it needs', (t) => {
    const release = previousRelease();
    const appList = (url: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'app', 'list'], {
        cwd: release.dir,
        env: { ...process.env, BINDERY_DATABASE_URL: url },
        encoding: 'utf8',
      });
    for (const sealed of [false, true]) {
      const url = `sqlite:${join(tempDir(t), 'bindery.db')}`;
      const key: Record<string, string> = sealed ? { BINDERY_SECRETS_KEY: randomBytes(32).toString('base64') } : {};
      const made = cli(['app', 'create', '--name', 'tenant'], { BINDERY_DATABASE_URL: url, ...key });
      assert.equal(made.status, 0, made.stderr);
      const old = appList(url);
      if (!sealed) {
        // The control: secrets in clear text, and the previous release serves the store this one migrated.
        assert.equal(old.status, 0, old.stderr);
        assert.match(old.stdout, /tenant/);
        continue;
      }
      assert.notEqual(old.status, 0, old.stdout);
      assert.match(old.stderr, new RegExp(`need code of schema ${SQLITE_SEALED_SECRETS} or newer`));
    }
  });
});
