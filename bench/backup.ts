/**
 * A backup of a live store against another tenant's queries: app A holds 1,000,000 bindings and
 * `bindery backup create` copies the whole store over and over, as an operator (or a schedule)
 * would, while app B's queries are measured; and B alone, on the same server (SQLite).
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, otherTenantRounds } from './harness.ts';

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
  const backupSeconds: number[] = [];
  await otherTenantRounds({
    db,
    bindings,
    seconds,
    runs,
    log,
    title:
      `Backups: app B's queries while \`bindery backup create\` copies the store of ` +
      `${bindings.toLocaleString('en')} bindings over and over`,
    during: 'during backups',
    disturb: async () => {
      let running = true;
      const backups = (async () => {
        while (running) backupSeconds.push(await backupOnce(db, join(dir, 'backup-copy.db')));
      })();
      return async () => {
        running = false;
        await backups;
      };
    },
  });
  const s = median(backupSeconds, (x) => x);
  console.log(
    `\nOne backup (copy, integrity check, summary) of ${bindings.toLocaleString('en')} bindings beside B's load: ` +
      `median ${s.toFixed(2)} s, ${backupSeconds.length} backups in all.`,
  );
}
