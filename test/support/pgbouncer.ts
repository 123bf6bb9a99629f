/**
 * Debian's PgBouncer (installed by `npm test`'s pretest) in front of a TestPostgres, in transaction
 * mode with a small server pool, so that client connections share server connections between
 * transactions: what breaks a client that keeps session state.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, serverUser, type TestPostgres } from './postgres-server.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export class TestPgBouncer {
  private log = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
  ) {
    child.stdout?.on('data', (c: Buffer) => (this.log += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.log += c.toString()));
  }

  static async start(target: TestPostgres, options: { serverConnections: number }): Promise<TestPgBouncer> {
    const dir = join(tmpdir(), `bindery-pgbouncer-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir, { mode: 0o755 });
    const port = await freePort();
    writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=127.0.0.1 port=${target.port}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${join(dir, 'users.txt')}`,
        'pool_mode = transaction',
        `default_pool_size = ${options.serverConnections}`,
        'max_client_conn = 500',
        'server_reset_query =',
        '',
      ].join('\n'),
    );
    // PgBouncer refuses to run as root.
    const user = serverUser();
    if (user) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ?? {}),
    });
    const bouncer = new TestPgBouncer(child, dir, port);
    for (const deadline = Date.now() + 10_000; ; ) {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}):\n${bouncer.log}`);
      if (await accepts(port)) return bouncer;
      if (Date.now() > deadline) throw new Error(`pgbouncer did not listen in 10 s:\n${bouncer.log}`);
      await sleep(50);
    }
  }

  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.port = String(this.port);
    return url.toString();
  }

  output(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGINT');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
