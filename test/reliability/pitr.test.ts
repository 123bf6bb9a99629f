/**
 * Point-in-time recovery of bindery's PostgreSQL with pgBackRest (issue 34, item 2), as
 * docs/deploy.md sets it up: WAL archived by `archive-push`, a full backup, 4 writers through a
 * bindery process, then a restore to a moment in the middle of the load. Exactly the changes
 * answered before that moment are there, none sent after it, and a change in flight at it whole or
 * not at all. Debian's PostgreSQL 15 and pgBackRest 2.45 (`npm test` installs them).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { serverUser, TestPostgres } from '../support/postgres-server.ts';
import { basicHeader, cli, startServer, stopServer } from '../support/server-process.ts';
import { boundTokens, WriteLoad } from '../support/write-load.ts';

const PG15 = '/usr/lib/postgresql/15/bin';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('restores to a point in time under load: exactly the changes answered before it, none sent after it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-pitr-'));
  chmodSync(dir, 0o755);
  const paths = { repo: join(dir, 'repo'), log: join(dir, 'log'), lock: join(dir, 'lock'), sock: join(dir, 'sock') };
  for (const path of Object.values(paths)) mkdirSync(path, { mode: 0o750 });
  const user = serverUser();
  if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, ...Object.values(paths)]);
  const conf = join(dir, 'pgbackrest.conf');
  const settings = [
    'wal_level=replica',
    'archive_mode=on',
    `archive_command=pgbackrest --config=${conf} --stanza=bindery archive-push %p`,
    `unix_socket_directories=${paths.sock}`,
  ];
  const primary = await TestPostgres.start({ durable: true, base: join(dir, 'pg'), settings, bin: PG15 });
  const servers = [primary];
  t.after(async () => {
    for (const server of servers) await server.destroy().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const { dataDir } = primary.files;
  writeFileSync(
    conf,
    [
      '[global]',
      `repo1-path=${paths.repo}`,
      'repo1-retention-full=2',
      `log-path=${paths.log}`,
      `lock-path=${paths.lock}`,
      'log-level-console=warn',
      'start-fast=y',
      '',
      '[bindery]',
      `pg1-path=${dataDir}`,
      `pg1-port=${primary.port}`,
      `pg1-socket-path=${paths.sock}`,
      '',
    ].join('\n'),
  );
  chmodSync(conf, 0o644);
  const pgbackrest = (...args: string[]) => {
    const result = spawnSync('pgbackrest', [`--config=${conf}`, '--stanza=bindery', ...args], {
      encoding: 'utf8',
      ...(user ?? {}),
    });
    assert.equal(result.status, 0, `pgbackrest ${args.join(' ')}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  };
  pgbackrest('stanza-create');
  pgbackrest('check');

  const url = await primary.createDatabase();
  const made = cli(['app', 'create', '--name', 'pitr', '--json'], { BINDERY_DATABASE_URL: url });
  assert.equal(made.status, 0, made.stderr);
  const app = JSON.parse(made.stdout) as { access_id: string; secret_key: string };
  pgbackrest('--type=full', 'backup');

  const env = { BINDERY_DATABASE_URL: url, BINDERY_BOOTSTRAP_APP: 'false', BINDERY_LOG_LEVEL: 'warn' };
  const server = await startServer(env);
  t.after(() => stopServer(server));
  const auth = basicHeader(app.access_id, app.secret_key);
  const load = new WriteLoad(server.url, auth, 4, 2);
  load.start();
  t.after(() => load.stop());
  await load.acknowledgedAfter(0, 150);
  const target = Date.now();
  await load.acknowledgedAfter(target + 50, 150);
  await load.stop();
  // The WAL holding the last commits goes to the repository (check switches to a new segment and waits for it).
  pgbackrest('check');
  assert.equal(await stopServer(server), 0);
  await primary.stop();

  const restored = join(dir, 'restored');
  mkdirSync(restored, { mode: 0o700 });
  if (user) execFileSync('chown', [`${user.uid}:${user.gid}`, restored]);
  const at = new Date(target).toISOString().replace('T', ' ').replace('Z', '+00');
  pgbackrest(`--pg1-path=${restored}`, '--type=time', `--target=${at}`, '--target-action=promote', 'restore');
  const recovered = await primary.startOn(restored, settings);
  servers.push(recovered);
  const deadline = Date.now() + 60_000;
  while ((await recovered.sql<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r) {
    assert.ok(Date.now() < deadline, 'the restored server did not finish recovery in 60 s');
    await sleep(100);
  }

  const database = new URL(url).pathname;
  const again = await startServer({ ...env, BINDERY_DATABASE_URL: recovered.url(database.slice(1)) });
  t.after(() => stopServer(again));
  const before = load.ok().filter((a) => a.ended < target);
  const after = load.answers.filter((a) => a.started > target);
  const inFlight = load.answers.filter((a) => a.started <= target && a.ended >= target);
  const present = await boundTokens(
    again.url,
    auth,
    before.flatMap((a) => a.tokens),
  );
  assert.equal(present.size, before.length * 2, 'a change answered before the target time is missing');
  const late = await boundTokens(
    again.url,
    auth,
    after.flatMap((a) => a.tokens),
  );
  assert.equal(late.size, 0, 'a change sent after the target time is there');
  let wholeInFlight = 0;
  for (const answer of inFlight) {
    const found = (await boundTokens(again.url, auth, answer.tokens)).size;
    assert.ok(found === 0 || found === answer.tokens.length, 'a change in flight at the target is there in part');
    if (found > 0) wholeInFlight++;
  }
  t.diagnostic(
    `restored to ${at}: ${before.length} batches answered before it all there, ${after.length} sent after it none ` +
      `there, ${inFlight.length} in flight (${wholeInFlight} there whole, the rest not at all)`,
  );
});
