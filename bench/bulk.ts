/**
 * Bulk import: bindery's import over HTTP with the SDK (20,000 lines per request) against the same
 * rows written without bindery, the way a hand-rolled importer would (SQLite: better-sqlite3, one
 * upsert per row, 5,000 per durable transaction; PostgreSQL: pg, one unnest upsert per 5,000 rows),
 * on the same schema.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { BinderyClient } from '../src/client/index.ts';
import { asBound, type Binding, DEFAULT_POLICY } from '../src/model/types.ts';
import { SQL as PG_SQL } from '../src/store/postgres/postgres-queries.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SQL as SQLITE_SQL } from '../src/store/sqlite/sqlite-queries.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import { APP, median, SERVER, seedBindings, start } from './harness.ts';

export interface BulkBenchOptions {
  dir: string;
  quick: boolean;
  runs: number;
  log: (line: string) => void;
}

function lines(count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ token: `import-token-${i}`, account: `import-user-${i >> 1}`, platform: 'ios' }),
  );
}

async function importRate(url: string, input: string[]): Promise<number> {
  const client = new BinderyClient({
    baseUrl: url,
    accessId: APP.accessId,
    secretKey: APP.secretKey,
    timeoutMs: 120_000,
  });
  const started = performance.now();
  const summary = await client.importLines(input, { chunkSize: 20_000 });
  if (summary.imported !== input.length) throw new Error(`imported ${summary.imported} of ${input.length}`);
  return input.length / ((performance.now() - started) / 1000);
}

/** A SQLite file with bindery's schema and the bench app, for bindery or for the plain baseline. */
async function emptySqlite(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  await seedBindings(path, 0);
  return path;
}

/** A PostgreSQL database with bindery's schema and the bench app; returns its URL and the app id. */
async function emptyPostgres(postgres: TestPostgres): Promise<{ url: string; appId: number }> {
  const url = await postgres.createDatabase();
  const store = await PostgresStore.open(url, { timeoutMs: 10_000, poolSize: 2 });
  const app = await store.createApp({ ...APP, name: 'bench', policy: DEFAULT_POLICY });
  await store.close();
  return { url, appId: app.id };
}

async function binderyImport(databaseUrl: string, input: string[]): Promise<number> {
  const server = await start(SERVER, { BINDERY_DATABASE_URL: databaseUrl, BINDERY_BOOTSTRAP_APP: 'false' });
  try {
    return await importRate(server.url, input);
  } finally {
    await server.stop();
  }
}

/**
 * The baseline: the statement bindery's SQLite writer runs per row, on the same schema, 5,000 per durable transaction.
 */
function plainSqliteInsert(path: string, rows: Binding[]): number {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const put = db.prepare(SQLITE_SQL.bindingsUpsertPlain);
  const putMany = db.transaction((slice: Binding[]) => {
    for (const b of slice) put.run(1, b.token, b.account, b.accountType, b.platform, b.boundAt);
  });
  const started = performance.now();
  for (let i = 0; i < rows.length; i += 5000) putMany(rows.slice(i, i + 5000));
  const rate = rows.length / ((performance.now() - started) / 1000);
  db.close();
  return rate;
}

/** The baseline: bindery's own PostgreSQL upsert (unnest), on the same schema, 5,000 per transaction. */
async function plainPgInsert(url: string, appId: number, rows: Binding[]): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const started = performance.now();
    for (let i = 0; i < rows.length; i += 5000) {
      const slice = rows.slice(i, i + 5000);
      await client.query(PG_SQL.bindingsUpsertPlain, [
        appId,
        slice.map((b) => b.token),
        slice.map((b) => b.account),
        slice.map((b) => b.accountType),
        slice.map((b) => b.platform),
        slice.map((b) => b.boundAt),
      ]);
    }
    return rows.length / ((performance.now() - started) / 1000);
  } finally {
    await client.end();
  }
}

export async function bulkBench({ dir, quick, runs: RUNS, log }: BulkBenchOptions): Promise<void> {
  const count = quick ? 100_000 : 1_000_000;
  const input = lines(count);
  const base = Date.now() * 1000;
  const rows: Binding[] = input.map((l, i) =>
    asBound({
      ...(JSON.parse(l) as { token: string; account: string }),
      accountType: 0,
      platform: 'ios',
      boundAt: base + i,
    }),
  );
  const runs: Record<'binderySqlite' | 'plainSqlite' | 'binderyPg' | 'plainPg', number[]> = {
    binderySqlite: [],
    plainSqlite: [],
    binderyPg: [],
    plainPg: [],
  };
  const postgres = await TestPostgres.start({ durable: true });
  try {
    for (let round = 1; round <= RUNS; round++) {
      log(`bulk round ${round}: ${count} bindings`);
      log('  bindery import, SQLite');
      runs.binderySqlite.push(await binderyImport(`sqlite:${await emptySqlite(dir, `bulk-${round}.db`)}`, input));
      log('  plain inserts, SQLite');
      runs.plainSqlite.push(plainSqliteInsert(await emptySqlite(dir, `plain-${round}.db`), rows));
      log('  bindery import, PostgreSQL');
      runs.binderyPg.push(await binderyImport((await emptyPostgres(postgres)).url, input));
      log('  plain inserts, PostgreSQL');
      const plain = await emptyPostgres(postgres);
      runs.plainPg.push(await plainPgInsert(plain.url, plain.appId, rows));
      log(
        `  ${Object.entries(runs)
          .map(([k, v]) => `${k} ${Math.round(v.at(-1)!)}/s`)
          .join(', ')}`,
      );
    }
  } finally {
    await postgres.destroy();
  }
  const n = (v: number) => Math.round(v).toLocaleString('en');
  const mid = (values: number[]) => median(values, (v) => v);
  const [bs, ps, bp, pp] = [mid(runs.binderySqlite), mid(runs.plainSqlite), mid(runs.binderyPg), mid(runs.plainPg)];
  console.log(
    `\n### Bulk import (${count.toLocaleString('en')} bindings over HTTP with the SDK, 20,000 lines per request; ` +
      `median of ${RUNS} rounds)\n`,
  );
  console.log(
    '| store | bindery import, bindings/s | the same statement without bindery, rows/s | ratio |\n| --- | --- | --- | --- |',
  );
  console.log(
    `| SQLite (WAL, synchronous=FULL) | ${n(bs)} | ${n(ps)} (better-sqlite3, one upsert per row, 5,000 per ` +
      `transaction) | ${(bs / ps).toFixed(2)} |`,
  );
  console.log(
    `| PostgreSQL 18 (fsync on) | ${n(bp)} | ${n(pp)} (pg, one unnest upsert per 5,000 rows) | ` +
      `${(bp / pp).toFixed(2)} |`,
  );
}
