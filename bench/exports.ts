/**
 * One tenant's exports against another tenant's queries: app A holds 1,000,000 bindings and 4
 * clients export all of them over and over; app B's queries are measured meanwhile and without
 * them, on the same server (SQLite, what `npm start` runs).
 */
import { join } from 'node:path';
import {
  APP,
  basic,
  type LoadResult,
  median,
  OTHER,
  queryOtherTenant,
  SERVER,
  seedBindings,
  seedOtherTenant,
  start,
} from './harness.ts';

export interface ExportsBenchOptions {
  dir: string;
  quick: boolean;
  seconds: number;
  runs: number;
  log: (line: string) => void;
}

/** Exports all of A's bindings, reading as fast as it can; returns the lines received. */
async function exportAll(url: string, auth: Record<string, string>): Promise<number> {
  const response = await fetch(`${url}/api/v1/export`, { headers: auth });
  if (response.status !== 200) throw new Error(`export answered ${response.status}: ${await response.text()}`);
  let lines = 0;
  for await (const chunk of response.body!) for (const byte of chunk as Uint8Array) if (byte === 10) lines++;
  return lines;
}

export async function exportsBench({ dir, quick, seconds, runs, log }: ExportsBenchOptions): Promise<void> {
  const bindings = quick ? 100_000 : 1_000_000;
  const exporters = 4;
  const db = join(dir, 'exports.db');
  log(`exports: seeding ${bindings} bindings in app A, ${OTHER.accounts} in app B`);
  await seedBindings(db, bindings);
  await seedOtherTenant(db);

  const server = await start(SERVER, { BINDERY_DATABASE_URL: `sqlite:${db}`, BINDERY_BOOTSTRAP_APP: 'false' });
  const queryB = () => queryOtherTenant(server.url, seconds);
  const quiet: LoadResult[] = [];
  const busy: LoadResult[] = [];
  const exportSeconds: number[] = [];
  try {
    for (let round = 1; round <= runs; round++) {
      quiet.push(await queryB());
      log(`  B alone round ${round}: ${Math.round(quiet.at(-1)!.rps)} req/s, p99 ${quiet.at(-1)!.p99} ms`);
      let running = true;
      const streams = Array.from({ length: exporters }, async () => {
        while (running) {
          const started = performance.now();
          const lines = await exportAll(server.url, basic(APP.accessId, APP.secretKey));
          if (lines !== bindings) throw new Error(`an export gave ${lines} of ${bindings} lines`);
          exportSeconds.push((performance.now() - started) / 1000);
        }
      });
      await new Promise((r) => setTimeout(r, 500)); // all 4 streaming before B is measured
      busy.push(await queryB());
      running = false;
      await Promise.all(streams);
      log(
        `  B during ${exporters} exports round ${round}: ${Math.round(busy.at(-1)!.rps)} req/s, p99 ${busy.at(-1)!.p99} ms`,
      );
    }
  } finally {
    await server.stop();
  }
  const q = median(quiet, (r) => r.p99);
  const b = median(busy, (r) => r.p99);
  const s = median(exportSeconds, (x) => x);
  console.log(
    `\n### Exports: app B's queries while ${exporters} clients export app A's ${bindings.toLocaleString('en')} ` +
      `bindings (SQLite, B: 10 connections, ${seconds} s; median of ${runs} rounds)\n`,
  );
  console.log('| app B query op 1 | req/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- |');
  console.log(`| alone | ${Math.round(q.rps).toLocaleString('en')} | ${q.p50} | ${q.p99} | ${q.errors} |`);
  console.log(
    `| during ${exporters} exports of A | ${Math.round(b.rps).toLocaleString('en')} | ${b.p50} | ${b.p99} | ` +
      `${b.errors} |`,
  );
  console.log(
    `\nOne export of ${bindings.toLocaleString('en')} bindings, ${exporters} side by side with B's load: median ` +
      `${s.toFixed(1)} s (${Math.round(bindings / s).toLocaleString('en')} bindings/s each), ${exportSeconds.length} ` +
      `exports in all.`,
  );
}
