/**
 * Backups of the SQLite store while it serves (issue 34, item 1): `bindery backup create` under 4
 * writers, then `bindery backup restore` of it; and the server's scheduled backups.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { tempDir } from '../support/helpers.ts';
import { basicHeader, cli, cliAsync, startServer, stopServer } from '../support/server-process.ts';
import { boundTokens, WriteLoad } from '../support/write-load.ts';

const quiet = { BINDERY_LOG_LEVEL: 'warn', BINDERY_BOOTSTRAP_APP: 'false' };

/** A store file with one app, made by the CLI; answers its credentials. */
function storeWithApp(file: string): { env: Record<string, string>; auth: string } {
  const env = { ...quiet, BINDERY_DATABASE_URL: `sqlite:${file}` };
  const made = cli(['app', 'create', '--name', 'backup-test', '--json'], env);
  assert.equal(made.status, 0, made.stderr);
  const app = JSON.parse(made.stdout) as { access_id: string; secret_key: string };
  return { env, auth: basicHeader(app.access_id, app.secret_key) };
}

test('a backup taken under 4 writers holds every change answered before it began and none sent after it ended; restored, bindery serves it', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'live.db');
  const { env, auth } = storeWithApp(file);
  const server = await startServer(env);
  t.after(() => stopServer(server));
  const load = new WriteLoad(server.url, auth, 4, 2);
  load.start();
  t.after(() => load.stop());
  await load.acknowledgedAfter(0, 200);

  const dest = join(dir, 'backup.db');
  const began = Date.now();
  const made = await cliAsync(['backup', 'create', dest, '--json'], env);
  const ended = Date.now();
  // Writers go on after the backup too: what they write now must not be in it.
  await load.acknowledgedAfter(ended, 100);
  await load.stop();
  assert.equal(made.status, 0, made.stderr);
  const summary = JSON.parse(made.stdout) as { integrity: string; bindings: number; apps: { revision: number }[] };
  assert.equal(summary.integrity, 'ok');
  assert.equal((statSync(dest).mode & 0o777).toString(8), '600');
  assert.equal(readdirSync(dir).filter((name) => name.includes('.partial-')).length, 0);

  const before = load.ok().filter((a) => a.ended < began);
  const after = load.ok().filter((a) => a.started > ended);
  const inFlight = load.answers.filter((a) => a.started <= ended && a.ended >= began);
  assert.ok(before.length >= 200 && after.length >= 100, `${before.length} before, ${after.length} after`);

  // Restoring over a store a server has open is refused, and changes nothing.
  const refused = cli(['backup', 'restore', dest], env);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /open in another process \(a running bindery\?\): stop it first/);
  assert.ok(existsSync(file));

  const liveTokens = await boundTokens(
    server.url,
    auth,
    after.flatMap((a) => a.tokens),
  );
  assert.equal(liveTokens.size, after.length * 2, 'the live store has everything answered');
  assert.equal(await stopServer(server), 0);

  const restored = cli(['backup', 'restore', dest, '--json'], env);
  assert.equal(restored.status, 0, restored.stderr);
  const report = JSON.parse(restored.stdout) as { replacedKeptAs: string };
  assert.ok(existsSync(report.replacedKeptAs), 'the replaced store is kept');
  assert.equal((statSync(file).mode & 0o777).toString(8), '600');

  const again = await startServer(env);
  t.after(() => stopServer(again));
  const tokensOf = (answers: typeof before) => answers.flatMap((a) => a.tokens);
  const present = await boundTokens(again.url, auth, tokensOf(before));
  assert.equal(present.size, before.length * 2, 'every change answered before the backup began is in it');
  const absent = await boundTokens(again.url, auth, tokensOf(after));
  assert.equal(absent.size, 0, 'no change sent after the backup ended is in it');
  // A batch in flight during the backup is there whole or not at all.
  for (const answer of inFlight) {
    const found = await boundTokens(again.url, auth, answer.tokens);
    assert.ok(found.size === 0 || found.size === answer.tokens.length, `batch ${answer.tokens[0]} is there in part`);
  }
  assert.equal(
    summary.bindings,
    new Database(dest, { readonly: true }).prepare('SELECT count(*) FROM bindings').pluck().get(),
  );

  // The backup is a plain SQLite file bindery starts on as it is (a copy, to leave the backup alone).
  const copy = join(dir, 'as-is.db');
  copyFileSync(dest, copy);
  const onCopy = await startServer({ ...env, BINDERY_DATABASE_URL: `sqlite:${copy}` });
  t.after(() => stopServer(onCopy));
  assert.equal((await boundTokens(onCopy.url, auth, tokensOf(before))).size, before.length * 2);
});

test('backup check refuses a damaged file, and backup create refuses an existing destination', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'b.db');
  const { env } = storeWithApp(file);
  const dest = join(dir, 'one.db');
  assert.equal(cli(['backup', 'create', dest], env).status, 0);
  const twice = cli(['backup', 'create', dest], env);
  assert.equal(twice.status, 1);
  assert.match(twice.stderr, /exists already: name a new file/);

  const checked = cli(['backup', 'check', dest], env);
  assert.equal(checked.status, 0, checked.stderr);
  assert.match(checked.stdout, /integrity\s+ok/);

  // Restored where there is no store yet (another machine): the folder is made, nothing is replaced.
  const elsewhere = join(dir, 'other-machine', 'data', 'bindery.db');
  const fresh = cli(['backup', 'restore', dest, '--json'], { ...env, BINDERY_DATABASE_URL: `sqlite:${elsewhere}` });
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.equal((JSON.parse(fresh.stdout) as { replacedKeptAs: string | null }).replacedKeptAs, null);
  assert.equal(cli(['app', 'list', '--json'], { ...env, BINDERY_DATABASE_URL: `sqlite:${elsewhere}` }).status, 0);

  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'not a database at all, just text long enough to be read as a header.........');
  const bad = cli(['backup', 'check', junk], env);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /junk\.db/);
  const notOurs = join(dir, 'other.db');
  new Database(notOurs).exec('CREATE TABLE t (x)');
  const wrong = cli(['backup', 'restore', notOurs], env);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /is not a bindery store/);
  assert.equal(readdirSync(dir).filter((name) => name.includes('.replaced-')).length, 0, 'nothing was replaced');

  const onPostgres = cli(['backup', 'create', join(dir, 'x.db')], {
    ...env,
    BINDERY_DATABASE_URL: 'postgres://u:p@127.0.0.1:1/x',
  });
  assert.equal(onPostgres.status, 2);
  assert.match(onPostgres.stderr, /pgBackRest/);
});

test('scheduled backups: taken every interval, the oldest pruned beyond KEEP, a failure counted while serving goes on', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'b.db');
  const { env, auth } = storeWithApp(file);
  const backups = join(dir, 'backups');
  // A copy cut off by a crash of an earlier run: removed at start, never counted as a backup.
  mkdirSync(backups);
  writeFileSync(join(backups, 'bindery-20261207T000000000Z.db.partial-4242'), 'half a copy');
  const server = await startServer({
    ...env,
    BINDERY_BACKUP_DIR: backups,
    BINDERY_BACKUP_INTERVAL: '1s',
    BINDERY_BACKUP_KEEP: '2',
    BINDERY_LOG_LEVEL: 'info',
  });
  t.after(() => stopServer(server));
  const load = new WriteLoad(server.url, auth, 2, 1);
  load.start();
  t.after(() => load.stop());
  const metric = async (name: string) => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? null : Number(line.split(' ')[1]);
  };
  const until = async (what: string, check: () => Promise<boolean> | boolean) => {
    const deadline = Date.now() + 20_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${server.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await until('3 backups', () => server.output().split('scheduled backup taken and checked').length > 3);
  assert.deepEqual(
    readdirSync(backups).filter((n) => n.includes('.partial-4242')),
    [],
    'a cut-off copy is left in the backup folder',
  );
  // A backup just renamed into place is pruned a moment later: the folder holds 2 once it has been.
  const kept = () => readdirSync(backups).filter((n) => n.endsWith('.db'));
  await until('2 backups kept', () => kept().length === 2);
  const names = kept();
  const last = await metric('bindery_backup_last_success_timestamp_seconds');
  assert.ok(last !== null && Math.abs(last - Date.now() / 1000) < 10, `last success ${last}`);
  // The newest is kept for two more intervals: time enough to check it while the schedule goes on.
  const newest = join(backups, names.sort().at(-1)!);
  const check = cli(['backup', 'check', newest, '--json'], env);
  assert.equal(check.status, 0, check.stderr);
  assert.equal((JSON.parse(check.stdout) as { integrity: string }).integrity, 'ok');

  // The folder replaced by a file: backups fail, are counted and logged, and the server serves on.
  renameSync(backups, `${backups}.away`);
  writeFileSync(backups, 'in the way');
  const failuresBefore = (await metric('bindery_backup_failures_total')) ?? 0;
  await until('a failed backup', async () => ((await metric('bindery_backup_failures_total')) ?? 0) > failuresBefore);
  assert.match(server.output(), /scheduled backup failed; serving goes on/);
  const during = Date.now();
  await load.acknowledgedAfter(during, 20);
  rmSync(backups);
  renameSync(`${backups}.away`, backups);
  const since = Date.now() / 1000;
  await until(
    'a backup again',
    async () => ((await metric('bindery_backup_last_success_timestamp_seconds')) ?? 0) > since,
  );
  await load.stop();
  assert.equal(server.child.exitCode, null);
  assert.ok(
    load.answers.every((a) => a.status === 200 && a.retCode === 0),
    'every write was answered 200/0',
  );
});
