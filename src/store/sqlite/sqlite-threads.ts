/** The store's worker threads: the writer (one per store) and a backup (one per scheduled backup). */
import { Worker } from 'node:worker_threads';
import type { BackupSummary } from './sqlite-backup.ts';

/** Under tsx (tests, `npm start`) a thread must load TypeScript too; compiled builds load .js directly. */
export function startThread(name: 'sqlite-writer-thread' | 'sqlite-backup-thread', workerData: unknown): Worker {
  const entry = new URL(`./${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const register = `import(${JSON.stringify(tsx)}).then((m) => m.register())`;
  const code = `${register}.then(() => import(${JSON.stringify(entry.href)}))`;
  return new Worker(code, { eval: true, workerData });
}

/** backupSqlite on a thread of its own: the copy and its check never hold up the event loop. */
export function backupInThread(source: string, dest: string): Promise<BackupSummary> {
  return new Promise((resolve, reject) => {
    const worker = startThread('sqlite-backup-thread', { source, dest });
    let settled = false;
    worker.once('message', (reply: { summary?: BackupSummary; failure?: string }) => {
      settled = true;
      if (reply.summary) resolve(reply.summary);
      else reject(new Error(reply.failure ?? 'the backup thread answered nothing'));
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the backup thread exited (${code}) without an answer`));
    });
  });
}
