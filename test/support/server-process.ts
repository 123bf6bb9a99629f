/** Starts real bindery processes (server and CLI) for tests that need a socket or a signal. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AppService } from '../../src/domain/app-service.ts';
import { DEFAULT_POLICY } from '../../src/model/types.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from './helpers.ts';
import type { TestPostgres } from './postgres-server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

export function cli(args: string[], env: Record<string, string>): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['bin/bindery.js', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `cli` without blocking the event loop: load running in this process goes on meanwhile. */
export function cliAsync(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/bindery.js', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/**
 * Starts `src/server.ts` (through tsx) on a free port and resolves once it listens; with `built`,
 * what `npm start` runs instead: dist/server/server.js, built by `npm run build`. `cwd`: another
 * checkout's server (the previous release, test/support/previous-release.ts).
 */
export async function startServer(
  env: Record<string, string>,
  options: { built?: boolean; umask?: string; cwd?: string } = {},
): Promise<ServerProcess> {
  const args = options.built ? ['dist/server/server.js'] : ['--import', 'tsx', 'src/server.ts'];
  // With `umask`, through a shell that sets it first (what the process is given, not what the test runner has).
  const [command, argv] =
    options.umask === undefined
      ? [process.execPath, args]
      : ['/bin/sh', ['-c', `umask ${options.umask} && exec "$0" "$@"`, process.execPath, ...args]];
  const child = spawn(command, argv, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, BINDERY_PORT: '0', BINDERY_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${output}`)), 20_000);
    const check = () => {
      const match = /bindery: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${output}`));
    });
  });
  return { url, child, output: () => output, exited };
}

/**
 * A server on a new SQLite file in its own folder, with the app it made on its first start; its
 * credentials read from the file they go to when stdout is not a terminal.
 */
export async function startWithFirstApp(
  t: TestContext,
): Promise<{ server: ServerProcess; dir: string; accessId: string; secretKey: string }> {
  const dir = tempDir(t);
  const server = await startServer({ BINDERY_DATABASE_URL: `sqlite:${join(dir, 'b.db')}` });
  t.after(() => stopServer(server));
  const file = readFileSync(join(dir, 'first-app-credentials.txt'), 'utf8');
  const [, accessId, secretKey] = /AccessID:\s+(\d+)\nSecretKey:\s+([0-9a-f]{32})/.exec(file) ?? [];
  if (!accessId || !secretKey) throw new Error(`no credentials in ${dir}/first-app-credentials.txt:\n${file}`);
  return { server, dir, accessId, secretKey };
}

export async function stopServer(server: ServerProcess): Promise<number | string> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
  return server.exited;
}

export const basicHeader = (accessId: string, secretKey: string) =>
  `Basic ${Buffer.from(`${accessId}:${secretKey}`).toString('base64')}`;

/**
 * A running server on a new SQLite file holding app 1500000001 (seeded by `seed`, if given), stopped
 * after the test; answers the environment the CLI's client commands read.
 */
export async function cliServer(t: TestContext, seed?: (store: SqliteStore, appId: number) => Promise<void>) {
  const file = join(tempDir(t), 'b.db');
  const store = await SqliteStore.open(file);
  const app = await store.createApp({
    accessId: '1500000001',
    name: 'cli',
    secretKey: 'c'.repeat(32),
    policy: DEFAULT_POLICY,
  });
  await seed?.(store, app.id);
  await store.close();
  const running = await startServer({
    BINDERY_DATABASE_URL: `sqlite:${file}`,
    BINDERY_BOOTSTRAP_APP: 'false',
    BINDERY_LOG_LEVEL: 'warn',
  });
  t.after(() => stopServer(running));
  return { BINDERY_URL: running.url, BINDERY_ACCESS_ID: app.accessId, BINDERY_SECRET_KEY: app.secretKey };
}

/**
 * A server on a new database of `postgres` holding one app, stopped after the test; with the
 * database's name (for terminating its connections) and the app's Basic header.
 */
export async function serverOnNewDatabase(
  t: TestContext,
  postgres: TestPostgres,
  storeTimeoutMs: number,
): Promise<{ server: ServerProcess; auth: string; database: string }> {
  const url = await postgres.createDatabase();
  const store = await PostgresStore.open(url, { timeoutMs: 5000, poolSize: 2 });
  const app = await new AppService(store, 0).create({ name: 'faults' });
  await store.close();
  const server = await startServer({
    BINDERY_DATABASE_URL: url,
    BINDERY_BOOTSTRAP_APP: 'false',
    BINDERY_LOG_LEVEL: 'warn',
    BINDERY_STORE_TIMEOUT_MS: String(storeTimeoutMs),
  });
  t.after(() => stopServer(server));
  return { server, auth: basicHeader(app.accessId, app.secretKey), database: new URL(url).pathname.slice(1) };
}
