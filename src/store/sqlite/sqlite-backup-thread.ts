/** Worker-thread entry: runs one backupSqlite({source, dest}) and answers {summary} or {failure}. */
import { parentPort, workerData } from 'node:worker_threads';
import { backupSqlite } from './sqlite-backup.ts';

const port = parentPort;
if (!port) throw new Error('sqlite-backup-thread must run in a worker thread');
const { source, dest } = workerData as { source: string; dest: string };
try {
  port.postMessage({ summary: backupSqlite(source, dest) });
} catch (error) {
  port.postMessage({ failure: (error as Error).message ?? String(error) });
}
