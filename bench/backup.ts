/**
 * A backup of a live store against another tenant's queries: app A holds 1,000,000 bindings and
 * `bindery backup create` copies the whole store over and over, as an operator (or a schedule)
 * would, while app B's queries are measured; and B alone, on the same server (SQLite).
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type LoadResult,
  median,
  OTHER,
  queryOtherTenant,
  SERVER,
  seedBindings,
  seedOtherTenant,
  start,
} from './harness.ts';

export interface BackupBenchOptions {
  dir: string;
  quick: boolean;
  seconds: number;
  runs: number;
  log: (line: string) => void;
}

/** One `bindery backup create` of `db` to `dest` (the compiled CLI, as an operator runs it); its seconds. */
function backupOnce(db: string, dest: string): Promise<number> {
  rmSync(dest, { force: true });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/bindery.js', 'backup', 'create', dest, '--json'], {
      env: { ...process.env, BINDERY_DATABASE_URL: `sqlite:${db}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) =>
      code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`backup failed: ${stderr}`)),
    );
  });
}

export async function backupBench({ dir, quick, seconds, runs, log }: BackupBenchOptions): Promise<void> {
  const bindings = quick ? 100_000 : 1_000_000;
  const db = join(dir, 'backup.db');
  log(`backup: seeding ${bindings} bindings in app A, ${OTHER.accounts} in app B`);
  await seedBindings(db, bindings);
  await seedOtherTenant(db);

  const server = await start(SERVER, { BINDERY_DATABASE_URL: `sqlite:${db}`, BINDERY_BOOTSTRAP_APP: 'false' });
  const queryB = () => queryOtherTenant(server.url, seconds);
  const quiet: LoadResult[] = [];
  const busy: LoadResult[] = [];
  const backupSeconds: number[] = [];
  try {
    for (let round = 1; round <= runs; round++) {
      quiet.push(await queryB());
      log(`  B alone round ${round}: ${Math.round(quiet.at(-1)!.rps)} req/s, p99 ${quiet.at(-1)!.p99} ms`);
      let running = true;
      const backups = (async () => {
        while (running) backupSeconds.push(await backupOnce(db, join(dir, 'backup-copy.db')));
      })();
      busy.push(await queryB());
      running = false;
      await backups;
      log(`  B during backups round ${round}: ${Math.round(busy.at(-1)!.rps)} req/s, p99 ${busy.at(-1)!.p99} ms`);
    }
  } finally {
    await server.stop();
  }
  const q = median(quiet, (r) => r.p99);
  const b = median(busy, (r) => r.p99);
  const s = median(backupSeconds, (x) => x);
  console.log(
    `\n### Backups: app B's queries while \`bindery backup create\` copies the store of ` +
      `${bindings.toLocaleString('en')} bindings over and over (SQLite, B: 10 connections, ${seconds} s; median of ${runs} rounds)\n`,
  );
  console.log('| app B query op 1 | req/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- |');
  console.log(`| alone | ${Math.round(q.rps).toLocaleString('en')} | ${q.p50} | ${q.p99} | ${q.errors} |`);
  console.log(`| during backups | ${Math.round(b.rps).toLocaleString('en')} | ${b.p50} | ${b.p99} | ${b.errors} |`);
  console.log(
    `\nOne backup (copy, integrity check, summary) of ${bindings.toLocaleString('en')} bindings beside B's load: ` +
      `median ${s.toFixed(2)} s, ${backupSeconds.length} backups in all.`,
  );
}
