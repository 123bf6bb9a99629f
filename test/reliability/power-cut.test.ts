/**
 * Power cuts (issue 34, item 4): the store's files on a filesystem that forgets every write not yet
 * fsynced (test/support/lazyfs.py). Under 4 writers sending 3-element batches (and feedback on every
 * other one), bindery and the database are killed with SIGKILL at a random moment and then the
 * power goes (the filesystem drops what was not synced), again and again; afterwards every
 * answered change must be there and none in part. The negative controls show the test can fail:
 * with SQLite's synchronous=NORMAL, or PostgreSQL's synchronous_commit=off, answered changes are lost.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { crashRun } from '../support/crash-harness.ts';
import { LazyFs } from '../support/lazy-fs.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { cli } from '../support/server-process.ts';
import { size } from '../support/soak.ts';

const CUTS = size(25, 100);
const quiet = { BINDERY_LOG_LEVEL: 'warn', BINDERY_BOOTSTRAP_APP: 'false' };

/** A lazy filesystem for the test, unmounted and removed after it (in that order). */
async function lazyFs(t: TestContext): Promise<LazyFs> {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-power-'));
  const fs = await LazyFs.mount(dir);
  t.after(async () => {
    await fs.unmount();
    rmSync(dir, { recursive: true, force: true });
  });
  return fs;
}

function newApp(env: Record<string, string>): { access_id: string; secret_key: string } {
  const made = cli(['app', 'create', '--name', 'power', '--json'], { ...quiet, ...env });
  assert.equal(made.status, 0, made.stderr);
  return JSON.parse(made.stdout) as { access_id: string; secret_key: string };
}

describe('power cuts, SQLite', () => {
  it(`${CUTS} cuts under 4 writers: every answered change is there, none in part`, async (t) => {
    const fs = await lazyFs(t);
    const env = { ...quiet, BINDERY_DATABASE_URL: `sqlite:${fs.mountpoint}/data/b.db` };
    const app = newApp(env);
    const report = await crashRun(env, app, CUTS, 4, () => fs.powerCut());
    t.diagnostic(JSON.stringify(report));
    assert.equal(fs.cuts, CUTS);
    assert.ok(report.answered > CUTS * 5, `only ${report.answered} answered`);
    assert.deepEqual(
      [report.lost, report.partial, report.feedbackLost, report.feedbackPartial],
      [0, 0, 0, 0],
      'answered changes lost or changes applied in part',
    );
  });

  it('negative control: with BINDERY_SQLITE_SYNCHRONOUS=NORMAL the same cuts lose answered changes', async (t) => {
    const fs = await lazyFs(t);
    const env = {
      ...quiet,
      BINDERY_DATABASE_URL: `sqlite:${fs.mountpoint}/data/b.db`,
      BINDERY_SQLITE_SYNCHRONOUS: 'NORMAL',
    };
    const app = newApp(env);
    const report = await crashRun(env, app, 5, 4, () => fs.powerCut());
    t.diagnostic(JSON.stringify(report));
    assert.ok(report.lost + report.feedbackLost > 0, 'synchronous=NORMAL lost nothing: the filesystem forgets nothing');
  });
});

describe('power cuts, PostgreSQL', () => {
  let fs: LazyFs;
  let postgres: TestPostgres;
  const mounted: LazyFs[] = [];
  const servers: TestPostgres[] = [];
  const dir = { path: '' };
  before(() => {
    dir.path = mkdtempSync(join(tmpdir(), 'bindery-power-pg-'));
    chmodSync(dir.path, 0o755); // PostgreSQL runs as its own user, which must reach its data directory
  });
  after(async () => {
    for (const server of servers) await server.destroy().catch(() => undefined);
    for (const each of mounted) await each.unmount();
    rmSync(dir.path, { recursive: true, force: true });
  });

  /** PostgreSQL (fsync on) with its data directory on the lazy filesystem; what initdb wrote is synced first. */
  async function postgresOnLazyFs(settings: string[] = []) {
    fs = await LazyFs.mount(dir.path + (settings.length ? '/control' : '/main'));
    mounted.push(fs);
    postgres = await TestPostgres.start({ durable: true, base: `${fs.mountpoint}/pg`, settings });
    servers.push(postgres);
    await postgres.sql('CHECKPOINT');
    const url = await postgres.createDatabase();
    const env = { ...quiet, BINDERY_DATABASE_URL: url, BINDERY_STORE_TIMEOUT_MS: '5000' };
    const app = newApp(env);
    await postgres.sql('CHECKPOINT');
    const cut = async () => {
      await postgres.killAll();
      await fs.powerCut();
      await postgres.restart();
    };
    return { env, app, cut };
  }

  it(`${CUTS} cuts under 4 writers, bindery and PostgreSQL killed together: every answered change is there, none in part`, async (t) => {
    const { env, app, cut } = await postgresOnLazyFs();
    const report = await crashRun(env, app, CUTS, 4, cut);
    t.diagnostic(JSON.stringify(report));
    assert.ok(report.answered > CUTS * 5, `only ${report.answered} answered`);
    assert.deepEqual([report.lost, report.partial, report.feedbackLost, report.feedbackPartial], [0, 0, 0, 0]);
  });

  it('negative control: with synchronous_commit=off the same cuts lose answered changes', async (t) => {
    const { env, app, cut } = await postgresOnLazyFs(['synchronous_commit=off', 'wal_writer_delay=10000ms']);
    const report = await crashRun(env, app, 5, 4, cut);
    t.diagnostic(JSON.stringify(report));
    assert.ok(
      report.lost + report.feedbackLost > 0,
      'synchronous_commit=off lost nothing: the filesystem forgets nothing',
    );
  });
});
