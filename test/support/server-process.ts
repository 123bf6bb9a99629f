/** Starts real bindery processes (server and CLI) for tests that need a socket or a signal. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

/**
 * Starts `src/server.ts` (through tsx) on a free port and resolves once it listens; with `built`,
 * what `npm start` runs instead: dist/server/server.js, built by `npm run build`.
 */
export async function startServer(
  env: Record<string, string>,
  options: { built?: boolean } = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    options.built ? ['dist/server/server.js'] : ['--import', 'tsx', 'src/server.ts'],
    {
      cwd: ROOT,
      env: { ...process.env, BINDERY_PORT: '0', BINDERY_HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
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

export async function stopServer(server: ServerProcess): Promise<number | string> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
  return server.exited;
}

export const basicHeader = (accessId: string, secretKey: string) =>
  `Basic ${Buffer.from(`${accessId}:${secretKey}`).toString('base64')}`;
