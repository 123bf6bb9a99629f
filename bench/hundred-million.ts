/**
 * 100,000,000 bindings on one box (issue 37, item 4): 100 apps of 1,000,000 bindings each (64-hex
 * tokens, two a user), as a multi-tenant instance holds them. A benchmark, not a test: about an
 * hour a store on the project's 2-core VM. Each step prints its figure as it ends:
 *
 * 1. the previous release (package.json `bindery.previousRelease`) serves an empty store and every
 *    app but the last is imported through it with `bindery import`, one file of 1,000,000 lines an app;
 * 2. this build's `bindery migrate` upgrades that store (the next release's migration, timed);
 * 3. this build serves it and imports the last app; a second store holds one app of 1,000,000 (the
 *    same import into an empty store);
 * 4. disk per binding; query op 1 (a random existing account of a random app) on both stores in
 *    interleaved rounds, with each server's RSS;
 * 5. `bindery export` of the last app (1,000,000 bindings among the 100,000,000);
 * 6. a backup while the server runs: `bindery backup create` (SQLite), or pgBackRest's full backup
 *    as docs/deploy.md configures it (PostgreSQL: Debian's PostgreSQL 15 with pgBackRest, which
 *    `npm test` installs; WAL is archived from the backup on, not during the import; default
 *    settings but max_wal_size, 8 GB until the backup; the small store is dropped before it, to
 *    leave the repository room).
 *
 * Usage: npm run bench:100m -- --store sqlite|postgres [--apps 100] [--per-app 1000000] [--dir DIR]
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { serverUser, TestPostgres } from '../test/support/postgres-server.ts';
import { previousRelease } from '../test/support/previous-release.ts';
import { type ServerProcess, startServer, stopServer } from '../test/support/server-process.ts';
import { basic, type LoadResult, load, type Proc, ROOT, rounds, rssMb, SERVER, start } from './harness.ts';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    apps: { type: 'string', default: '100' },
    'per-app': { type: 'string', default: '1000000' },
    dir: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
  },
});
const STORE = values.store;
if (STORE !== 'sqlite' && STORE !== 'postgres') throw new Error('--store must be sqlite or postgres');
const APPS = Number(values.apps);
const PER_APP = Number(values['per-app']);
const TOTAL = APPS * PER_APP;
const dir = mkdtempSync(join(values.dir ?? tmpdir(), 'bindery-100m-'));
chmodSync(dir, 0o755);
const PG15 = '/usr/lib/postgresql/15/bin';
const ADMIN = { BINDERY_ADMIN_TOKEN: 'a'.repeat(40) };
const started = performance.now();
const clock = () => `${((performance.now() - started) / 60_000).toFixed(1)} min`;
const log = (line: string) => process.stderr.write(`[${clock()}] ${line}\n`);
const n = (value: number) => Math.round(value).toLocaleString('en');
const figures: string[] = [];
const figure = (line: string) => {
  figures.push(line);
  log(line);
};

/** App i: its AccessID and SecretKey (the admin API keeps given ones, as for a TPNS migration). */
const app = (i: number) => ({ accessId: String(1_700_000_000 + i), secretKey: i.toString(16).padStart(32, 'b') });

/** The CLI of this build (compiled, as an operator runs it); its stdout, or an error with its stderr. */
function bindery(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/bindery.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`bindery ${args.join(' ')} exited ${code}: ${err}${out}`)),
    );
  });
}

async function createApps(url: string, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const { accessId, secretKey } = app(i);
    const response = await fetch(`${url}/admin/v1/apps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN.BINDERY_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `app ${i}`, access_id: accessId, secret_key: secretKey }),
    });
    if (response.status !== 201) throw new Error(`creating app ${i}: ${response.status} ${await response.text()}`);
  }
}

/** Imports app i's 1,000,000 bindings (a new file) with `bindery import`; the seconds the command took. */
async function importApp(url: string, i: number): Promise<number> {
  const file = join(dir, `app-${i}.ndjson`);
  const lines: string[] = [];
  for (let k = 0; k < PER_APP; k++)
    lines.push(`{"token":"${randomBytes(32).toString('hex')}","account":"u${k >> 1}","platform":"ios"}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  const { accessId, secretKey } = app(i);
  const answer = JSON.parse(
    await bindery(['import', file, '--json', '--url', url, '--access-id', accessId, '--secret-key', secretKey], {}),
  ) as { imported: number; failed: number; seconds: number };
  rmSync(file);
  if (answer.imported !== PER_APP) throw new Error(`app ${i}: imported ${answer.imported} of ${PER_APP}`);
  return answer.seconds;
}

async function importApps(url: string, from: number, to: number, by: string): Promise<void> {
  const begun = performance.now();
  const seconds: number[] = [];
  for (let i = from; i < to; i++) {
    seconds.push(await importApp(url, i));
    const eta = ((performance.now() - begun) / (i + 1 - from)) * (to - i - 1);
    log(
      `  ${by}: app ${i + 1} of ${to} at ${n(PER_APP / seconds.at(-1)!)} lines/s; ETA ${(eta / 60_000).toFixed(1)} min`,
    );
  }
  const inImport = seconds.reduce((a, b) => a + b, 0);
  const wall = (performance.now() - begun) / 1000;
  const count = (to - from) * PER_APP;
  figure(
    `import by ${by}, apps ${from + 1}-${to} (${n(count)} bindings): ${inImport.toFixed(0)} s in \`bindery import\` ` +
      `(${n(count / inImport)} lines/s; the first app ${n(PER_APP / seconds[0]!)}, the last ` +
      `${n(PER_APP / seconds.at(-1)!)}), ${wall.toFixed(0)} s with writing the files`,
  );
}

/** The two stores (100M and 1M): where they are, what they take on disk, a backup of the large one. */
interface Stores {
  big: string;
  small: string;
  bytes(url: string): Promise<number>;
  backup(): Promise<string>;
  close(): Promise<void>;
}

function sqliteStores(): Stores {
  const fileOf = (url: string) => url.slice('sqlite:'.length);
  const size = (file: string) => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  return {
    big: `sqlite:${join(dir, 'big.db')}`,
    small: `sqlite:${join(dir, 'small.db')}`,
    bytes: async (url) => size(fileOf(url)) + size(`${fileOf(url)}-wal`),
    async backup(this: Stores) {
      const dest = join(dir, 'big-backup.db');
      const at = performance.now();
      await bindery(['backup', 'create', dest, '--json'], { BINDERY_DATABASE_URL: this.big });
      const line = `\`bindery backup create\` while serving: ${((performance.now() - at) / 1000).toFixed(0)} s, ${n(size(dest) / 1e6)} MB`;
      rmSync(dest);
      return line;
    },
    close: async () => undefined,
  };
}

async function postgresStores(): Promise<Stores> {
  const user = serverUser();
  const paths = { repo: join(dir, 'repo'), log: join(dir, 'log'), lock: join(dir, 'lock'), sock: join(dir, 'sock') };
  for (const path of Object.values(paths)) mkdirSync(path, { mode: 0o750 });
  if (user) spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, ...Object.values(paths)]);
  const conf = join(dir, 'pgbackrest.conf');
  const server = await TestPostgres.start({
    durable: true,
    base: join(dir, 'pg'),
    bin: PG15,
    settings: ['wal_level=replica', 'archive_mode=on', `unix_socket_directories=${paths.sock}`],
  });
  // As docs/deploy.md configures pgBackRest, with this server's paths.
  const ini = ['[global]', `repo1-path=${paths.repo}`, 'repo1-retention-full=2', 'start-fast=y'];
  const local = [`log-path=${paths.log}`, `lock-path=${paths.lock}`, 'log-level-console=warn'];
  const stanza = ['[bindery]', `pg1-path=${server.files.dataDir}`, `pg1-port=${server.port}`];
  writeFileSync(conf, [...ini, ...local, '', ...stanza, `pg1-socket-path=${paths.sock}`, ''].join('\n'));
  chmodSync(conf, 0o644);
  const pgbackrest = (...args: string[]) => {
    const result = spawnSync('pgbackrest', [`--config=${conf}`, '--stanza=bindery', ...args], {
      encoding: 'utf8',
      ...(user ?? {}),
    });
    if (result.status !== 0) throw new Error(`pgbackrest ${args.join(' ')}: ${result.stderr}${result.stdout}`);
  };
  const query = async (url: string, sql: string) => {
    const client = new pg.Client(url);
    await client.connect();
    try {
      return (await client.query(sql)).rows[0] as Record<string, string>;
    } finally {
      await client.end();
    }
  };
  const big = await server.createDatabase();
  const small = await server.createDatabase();
  // Set here, not on the command line, so that they can change before the backup.
  const set = async (setting: string) => {
    await query(big, `ALTER SYSTEM ${setting}`);
    await query(big, 'SELECT pg_reload_conf()');
  };
  // PostgreSQL's defaults but one: checkpoints every 8 GB of WAL rather than 1 GB, as for any bulk
  // load; and no archive until the backup.
  await set(`SET max_wal_size = '8GB'`);
  await set(`SET archive_command = '/bin/true'`);
  return {
    big,
    small,
    bytes: async (url) => Number((await query(url, 'SELECT pg_database_size(current_database()) AS b')).b),
    async backup(this: Stores) {
      // Room for the repository on a disk the size of this VM's: the small store is measured and
      // goes, and the WAL the import kept returns to the default 1 GB at the next checkpoints.
      await query(big, `DROP DATABASE "${new URL(this.small).pathname.slice(1)}" WITH (FORCE)`);
      await set('RESET max_wal_size');
      for (let i = 0; i < 3; i++) await query(big, 'CHECKPOINT');
      await set(`SET archive_command = 'pgbackrest --config=${conf} --stanza=bindery archive-push %p'`);
      pgbackrest('stanza-create');
      pgbackrest('check');
      const at = performance.now();
      pgbackrest('--type=full', 'backup');
      const seconds = (performance.now() - at) / 1000;
      const du = spawnSync('du', ['-sb', paths.repo], { encoding: 'utf8' }).stdout.split('\t')[0];
      return `pgBackRest full backup (docs/deploy.md's settings, gz) while serving: ${seconds.toFixed(0)} s, repository ${n(Number(du) / 1e6)} MB`;
    },
    close: () => server.destroy(),
  };
}

/** Query op 1 of a random existing account of a random app among `apps`, 50 connections. */
function queries(url: string, apps: number, seconds: number): Promise<LoadResult> {
  const auth = Array.from({ length: apps }, (_, i) => basic(app(i).accessId, app(i).secretKey));
  return load(
    `${url}/v3/device/account/query`,
    {},
    () => {
      const account = `u${Math.floor(Math.random() * (PER_APP / 2))}`;
      return {
        headers: auth[Math.floor(Math.random() * apps)]!,
        body: JSON.stringify({ operator_type: 1, account_list: [{ account }] }),
      };
    },
    seconds,
  );
}

log(`${STORE}: ${APPS} apps x ${n(PER_APP)} bindings in ${dir}`);
const release = previousRelease();
const stores = STORE === 'sqlite' ? sqliteStores() : await postgresStores();
const env = (url: string) => ({ BINDERY_DATABASE_URL: url, BINDERY_BOOTSTRAP_APP: 'false', ...ADMIN });
const servers: (Proc | ServerProcess)[] = [];
try {
  // 1. The previous release imports every app but the last.
  const previous = await startServer({ ...env(stores.big), BINDERY_LOG_LEVEL: 'warn' }, { cwd: release.dir });
  servers.push(previous);
  await createApps(previous.url, 0, APPS);
  await importApps(previous.url, 0, APPS - 1, `release ${release.version}`);
  figure(`release ${release.version}'s peak RSS while importing: ${n(rssMb(previous.child.pid!, 'VmHWM'))} MB`);
  await stopServer(previous);

  // 2. This build's migration of that store.
  let at = performance.now();
  const migrated = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/bindery.js', 'migrate'], {
      cwd: ROOT,
      env: { ...process.env, ...env(stores.big) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('close', (code) => (code === 0 ? resolve(err.trim()) : reject(new Error(`migrate: ${err}`))));
  });
  figure(
    `\`bindery migrate\` from ${release.version}: ${((performance.now() - at) / 1000).toFixed(1)} s (${migrated.replaceAll('\n', '; ')})`,
  );
  for (const file of readdirSync(dir)) if (file.includes('.schema-')) rmSync(join(dir, file)); // its copy, checked above

  // 3. This build imports the last app, and one app into an empty store.
  at = performance.now();
  const big = await start(SERVER, env(stores.big));
  servers.push(big);
  figure(
    `this build's server, from its start to listening on the migrated store: ${((performance.now() - at) / 1000).toFixed(1)} s`,
  );
  await importApps(big.url, APPS - 1, APPS, `this build into ${n(TOTAL - PER_APP)}`);
  const small = await start(SERVER, env(stores.small));
  servers.push(small);
  await createApps(small.url, 0, 1);
  await importApps(small.url, 0, 1, 'this build into an empty store');

  // 4. Disk, queries, RSS.
  for (const [name, url, count] of [
    ['large', stores.big, TOTAL],
    ['small', stores.small, PER_APP],
  ] as const)
    figure(
      `disk, ${name} store: ${n((await stores.bytes(url)) / 1e6)} MB, ${n((await stores.bytes(url)) / count)} bytes a binding`,
    );
  const seconds = Number(values.seconds);
  const result = await rounds(
    Number(values.rounds),
    log,
    { large: () => queries(big.url, APPS, seconds), small: () => queries(small.url, 1, seconds) },
    { 'large/small': ['large', 'small'] },
  );
  for (const key of ['large', 'small']) {
    const r = result.median[key]!;
    figure(
      `query op 1, ${key} store (median of ${values.rounds} rounds): ${n(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}`,
    );
  }
  figure(
    `query op 1, large (${n(TOTAL)}) against small (${n(PER_APP)}): ${result.ratio['large/small']!.toFixed(2)} (median of per-round ratios)`,
  );
  figure(
    `server RSS after the queries: large ${n(rssMb(big.child.pid!, 'VmRSS'))} MB, small ${n(rssMb(small.child.pid!, 'VmRSS'))} MB`,
  );

  await small.stop();
  servers.splice(servers.indexOf(small), 1);

  // 5. An export of the last app among them.
  const last = app(APPS - 1);
  const output = join(dir, 'export.ndjson');
  at = performance.now();
  try {
    await bindery(
      ['export', '--output', output, '--url', big.url, '--access-id', last.accessId, '--secret-key', last.secretKey],
      {},
    );
    const exportSeconds = (performance.now() - at) / 1000;
    figure(
      `\`bindery export\` of one app (${n(PER_APP)} of ${n(TOTAL)}): ${exportSeconds.toFixed(1)} s, ${n(PER_APP / exportSeconds)} bindings/s, ${n(statSync(output).size / 1e6)} MB`,
    );
  } catch (error) {
    figure(
      `\`bindery export\` FAILED after ${((performance.now() - at) / 1000).toFixed(0)} s: ${(error as Error).message}`,
    );
  }
  rmSync(output, { force: true });

  // 6. A backup while it serves.
  figure(await stores.backup());
} finally {
  for (const server of servers) 'stop' in server ? await server.stop() : await stopServer(server);
  await stores.close();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\n### ${n(TOTAL)} bindings on one box (${STORE}, ${new Date().toISOString().slice(0, 10)})\n`);
for (const line of figures) console.log(`- ${line}`);
