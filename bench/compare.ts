/**
 * `npm run bench:compare -- --before DIR [--after DIR]`: two builds of bindery (each a checkout with
 * `npm run build:server` done) measured in interleaved rounds on the same machine, so that drift
 * of a shared box hits both alike: query ops 1 and 2 and durable batchoperate op 2 on SQLite (autocannon,
 * 50 connections), the NDJSON import over HTTP, and batchoperate on PostgreSQL. Prints medians
 * and the median of the per-round after/before ratios. `--only sqlite|postgres` runs one half.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { BindingStore } from '../src/model/store.ts';
import { DEFAULT_POLICY } from '../src/model/types.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import {
  APP,
  basic,
  type LoadResult,
  load,
  median,
  type Proc,
  ROOT,
  rebindBody,
  START_ARGS,
  seedBindings,
} from './harness.ts';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    after: { type: 'string', default: ROOT },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '8' },
    only: { type: 'string' },
  },
});
if (!values.before) throw new Error('--before DIR is required: a checkout of the build to compare against');
const BUILDS = { before: resolve(values.before), after: resolve(values.after) } as const;
type Build = keyof typeof BUILDS;
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const BINDINGS = 200_000;
const IMPORT_LINES = 100_000;
const log = (line: string) => process.stderr.write(`${line}\n`);
const random = (n: number) => Math.floor(Math.random() * n);

/** The server as `npm start` runs it (this checkout's flags), from a build's own dist/. */
async function serve(build: Build, databaseUrl: string): Promise<Proc> {
  const child = spawn(process.execPath, START_ARGS, {
    cwd: BUILDS[build],
    env: {
      ...process.env,
      BINDERY_PORT: '0',
      BINDERY_LOG_LEVEL: 'warn',
      BINDERY_DATABASE_URL: databaseUrl,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_IMPORT_MAX_BYTES: String(64 * 1024 * 1024),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((ok, fail) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (match?.[1]) ok(match[1]);
    });
    child.once('exit', (code) => fail(new Error(`${build} server exited (${code}) before listening`)));
  });
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  return { url, child, stop };
}

const auth = basic(APP.accessId, APP.secretKey);
const queryBody = () => JSON.stringify({ operator_type: 1, account_list: [{ account: `u${random(BINDINGS / 2)}` }] });
const tokenQueryBody = () => JSON.stringify({ operator_type: 2, token_list: [`t${random(BINDINGS)}`] });
const batchBody = rebindBody(BINDINGS);

/** One NDJSON import of new bindings; lines per second. */
async function importRate(url: string, tag: string): Promise<LoadResult> {
  const lines = Array.from(
    { length: IMPORT_LINES },
    (_, i) => `{"token":"${tag}-${i}","account":"${tag}-u${i >> 1}","platform":"ios"}`,
  ).join('\n');
  const started = performance.now();
  const response = await fetch(`${url}/api/v1/import`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/x-ndjson' },
    body: lines,
  });
  const answer = (await response.json()) as { imported?: number };
  const seconds = (performance.now() - started) / 1000;
  if (answer.imported !== IMPORT_LINES) throw new Error(`import answered ${JSON.stringify(answer)}`);
  return { rps: IMPORT_LINES / seconds, p50: NaN, p99: NaN, errors: 0 };
}

/**
 * The stores of the before build: the data is made by it, so that both builds can open it (the
 * after build migrates its copy when it starts, as an upgrade would).
 */
const older = {
  sqlite: (await import(pathToFileURL(join(BUILDS.before, 'dist/server/store/sqlite/sqlite-store.js')).href)) as {
    SqliteStore: { open(path: string): Promise<BindingStore> };
  },
  postgres: (await import(pathToFileURL(join(BUILDS.before, 'dist/server/store/postgres/postgres-store.js')).href)) as {
    PostgresStore: { open(url: string, options: object): Promise<BindingStore> };
  },
};

const dir = mkdtempSync(join(tmpdir(), 'bindery-compare-'));
const postgres = await TestPostgres.start({ durable: true });
try {
  log(`seeding ${BINDINGS.toLocaleString('en')} bindings`);
  const seed = join(dir, 'seed.db');
  await seedBindings(seed, BINDINGS, 0, (path) => older.sqlite.SqliteStore.open(path));
  const sqlite: Record<Build, string> = { before: join(dir, 'before.db'), after: join(dir, 'after.db') };
  for (const build of ['before', 'after'] as const) copyFileSync(seed, sqlite[build]);
  const pg: Record<Build, string> = { before: await postgres.createDatabase(), after: await postgres.createDatabase() };
  for (const url of Object.values(pg)) {
    const store = await older.postgres.PostgresStore.open(url, { timeoutMs: 10_000, poolSize: 2 });
    await store.createApp({ ...APP, name: 'bench', policy: DEFAULT_POLICY });
    await store.close();
  }

  const measures = {
    'query op 1 (SQLite)': (url: string) => load(`${url}/v3/device/account/query`, auth, queryBody, SECONDS),
    'query op 2 (SQLite)': (url: string) => load(`${url}/v3/device/account/query`, auth, tokenQueryBody, SECONDS),
    'batchoperate op 2, durable (SQLite)': (url: string) =>
      load(`${url}/v3/device/account/batchoperate`, auth, batchBody, SECONDS),
  };
  const runs: Record<string, Record<Build, LoadResult[]>> = {};
  const ratios: Record<string, number[]> = {};
  const record = (name: string, build: Build, result: LoadResult) => {
    (runs[name] ??= { before: [], after: [] })[build].push(result);
    log(`  ${name} ${build}: ${Math.round(result.rps)}/s, p99 ${result.p99} ms, errors ${result.errors}`);
  };
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round} of ${ROUNDS}`);
    // ABBA: each build goes first in every other round.
    const order: Build[] = round % 2 === 1 ? ['before', 'after'] : ['after', 'before'];
    for (const build of order) {
      if (values.only !== 'postgres') {
        const server = await serve(build, `sqlite:${sqlite[build]}`);
        try {
          for (const [name, measure] of Object.entries(measures)) record(name, build, await measure(server.url));
          record('import over HTTP, lines (SQLite)', build, await importRate(server.url, `r${round}${build}`));
        } finally {
          await server.stop();
        }
      }
      if (values.only === 'sqlite') continue;
      const onPg = await serve(build, pg[build]);
      try {
        const result = await load(`${onPg.url}/v3/device/account/batchoperate`, auth, batchBody, SECONDS);
        record('batchoperate op 2 (PostgreSQL)', build, result);
      } finally {
        await onPg.stop();
      }
    }
    for (const [name, byBuild] of Object.entries(runs)) {
      (ratios[name] ??= []).push(byBuild.after.at(-1)!.rps / byBuild.before.at(-1)!.rps);
    }
  }
  console.log(
    `\n| ${ROUNDS} interleaved rounds, ${SECONDS} s each | before, per s (median) | after, per s (median) | ` +
      'after/before (median of rounds) | per-round ratios |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (const [name, byBuild] of Object.entries(runs)) {
    const [b, a] = [median(byBuild.before, (r) => r.rps), median(byBuild.after, (r) => r.rps)];
    const each = ratios[name]!.map((r) => r.toFixed(2)).join(', ');
    const mid = median(ratios[name]!, (r) => r).toFixed(2);
    console.log(
      `| ${name} | ${Math.round(b.rps).toLocaleString('en')} | ${Math.round(a.rps).toLocaleString('en')} | ${mid} | ${each} |`,
    );
  }
} finally {
  await postgres.stop();
  rmSync(dir, { recursive: true, force: true });
}
