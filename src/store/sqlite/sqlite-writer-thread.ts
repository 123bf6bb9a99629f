/** Worker-thread entry: owns a SqliteWriter and answers {id, commands} with {id, results} or {id, failure}, in order. */
import { parentPort, workerData } from 'node:worker_threads';
import type { SqliteSynchronous } from './sqlite-connection.ts';
import { SqliteWriter, type WriteCommand } from './sqlite-writer.ts';

const port = parentPort;
if (!port) throw new Error('sqlite-writer-thread must run in a worker thread');

const { path, synchronous } = workerData as { path: string; synchronous: SqliteSynchronous };
const writer = new SqliteWriter(path, synchronous);

/** Groups run one after another, each committed before the next begins. */
let previous: Promise<void> = Promise.resolve();

port.on('message', (message: { id: number; commands?: WriteCommand[]; close?: true }) => {
  previous = previous.then(async () => {
    if (message.close) {
      writer.close();
      port.postMessage({ id: message.id, closed: true });
      port.close();
      return;
    }
    try {
      port.postMessage({ id: message.id, results: await writer.runGroup(message.commands ?? []) });
    } catch (error) {
      const e = error as { name?: string; code?: string; message?: string };
      const failure = { name: e.name ?? 'Error', code: e.code ?? null, message: e.message ?? String(error) };
      port.postMessage({ id: message.id, failure });
    }
  });
});
port.postMessage({ ready: true });
