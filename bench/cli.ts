/**
 * The CLI's cold start: each command is a new process, as a person or a script runs it. Median and
 * slowest of `runs` runs of `bindery --help` and of `bindery app list` on a store with 3 apps.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { median, ROOT } from './harness.ts';

function timeCommand(args: string[], env: Record<string, string>, runs: number): number[] {
  return Array.from({ length: runs }, () => {
    const started = performance.now();
    const result = spawnSync(process.execPath, ['bin/bindery.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`bindery ${args.join(' ')} failed: ${result.stderr}`);
    return performance.now() - started;
  });
}

export function cliBench({ dir, runs }: { dir: string; runs: number }): void {
  const env = { BINDERY_DATABASE_URL: `sqlite:${join(dir, 'cli.db')}` };
  for (const name of ['a', 'b', 'c']) timeCommand(['app', 'create', '--name', name], env, 1);
  const rows: [string, number[]][] = [
    ['bindery --help', timeCommand(['--help'], env, runs)],
    ['bindery app list (3 apps, SQLite)', timeCommand(['app', 'list'], env, runs)],
  ];
  console.log(`\n### CLI cold start (${runs} runs each, a new process per run)\n`);
  console.log('| command | median ms | slowest ms |\n| --- | --- | --- |');
  for (const [command, times] of rows)
    console.log(`| \`${command}\` | ${median(times, (x) => x).toFixed(0)} | ${Math.max(...times).toFixed(0)} |`);
}
