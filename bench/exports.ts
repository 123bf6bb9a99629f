/**
 * One tenant's exports against another tenant's queries: app A holds 1,000,000 bindings and 4
 * clients export all of them over and over; app B's queries are measured meanwhile and without
 * them, on the same server (SQLite, what `npm start` runs).
 */
import { join } from 'node:path';
import { APP, basic, median, otherTenantRounds } from './harness.ts';

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
  const exportSeconds: number[] = [];
  await otherTenantRounds({
    db: join(dir, 'exports.db'),
    bindings,
    seconds,
    runs,
    log,
    title: `Exports: app B's queries while ${exporters} clients export app A's ${bindings.toLocaleString('en')} bindings`,
    during: `during ${exporters} exports of A`,
    disturb: async (url) => {
      let running = true;
      const streams = Array.from({ length: exporters }, async () => {
        while (running) {
          const started = performance.now();
          const lines = await exportAll(url, basic(APP.accessId, APP.secretKey));
          if (lines !== bindings) throw new Error(`an export gave ${lines} of ${bindings} lines`);
          exportSeconds.push((performance.now() - started) / 1000);
        }
      });
      await new Promise((r) => setTimeout(r, 500)); // all 4 streaming before B is measured
      return async () => {
        running = false;
        await Promise.all(streams);
      };
    },
  });
  const s = median(exportSeconds, (x) => x);
  console.log(
    `\nOne export of ${bindings.toLocaleString('en')} bindings, ${exporters} side by side with B's load: median ` +
      `${s.toFixed(1)} s (${Math.round(bindings / s).toLocaleString('en')} bindings/s each), ${exportSeconds.length} ` +
      `exports in all.`,
  );
}
