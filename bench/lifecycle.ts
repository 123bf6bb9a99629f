/**
 * The token lifecycle's writes: provider feedback and seen, 1,000 items a request, in items per
 * second, on SQLite and PostgreSQL; against what a send service does without them (unbind the
 * dead tokens with batchoperate op 4, 100 a request) and, for seen, against the same updates
 * straight into the same SQLite file with nothing around them.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import { APP, basic, type LoadResult, load, median, SERVER, seedBindings, start } from './harness.ts';

export interface LifecycleBenchOptions {
  dir: string;
  quick: boolean;
  seconds: number;
  runs: number;
  log: (line: string) => void;
}

const ITEMS = 1000;
const UNBIND_TOKENS = 100;
const CONNECTIONS = 8;
const random = (n: number) => Math.floor(Math.random() * n);

/** Distinct random tokens of the seeded t0..t(n-1). */
function tokens(n: number, count: number): string[] {
  const picked = new Set<string>();
  while (picked.size < count) picked.add(`t${random(n)}`);
  return [...picked];
}

const bodies = (n: number) => ({
  feedback: () =>
    JSON.stringify({ items: tokens(n, ITEMS).map((token) => ({ token, provider: 'fcm', reason: 'UNREGISTERED' })) }),
  seen: () => JSON.stringify({ tokens: tokens(n, ITEMS) }),
  unbind: () => JSON.stringify({ operator_type: 4, token_list: tokens(n, UNBIND_TOKENS) }),
});

/** `UPDATE … last_seen_at` for 1,000 random tokens per durable commit, nothing else: items/s. */
function plainSeen(path: string, n: number, seconds: number): number {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const update = db.prepare('UPDATE bindings SET last_seen_at = ? WHERE app_id = 1 AND token = ?');
  const commit = db.transaction((list: string[]) => {
    const now = Date.now();
    for (const token of list) update.run(now, token);
  });
  let done = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    commit(tokens(n, ITEMS));
    done += ITEMS;
  }
  db.close();
  return done / seconds;
}

export async function lifecycleBench({ dir, quick, seconds, runs, log }: LifecycleBenchOptions): Promise<void> {
  const n = quick ? 100_000 : 1_000_000;
  const seed = join(dir, 'lifecycle.db');
  log(`lifecycle: seeding ${n} bindings`);
  await seedBindings(seed, n);
  const auth = basic(APP.accessId, APP.secretKey);
  const body = bodies(n);
  const results: Record<string, LoadResult[]> = {};
  const record = (key: string, result: LoadResult, perRequest: number) => {
    const items = { ...result, rps: result.rps * perRequest };
    (results[key] ??= []).push(items);
    log(
      `  ${key}: ${Math.round(items.rps)} items/s, p50 ${result.p50} ms, p99 ${result.p99} ms, errors ${result.errors}`,
    );
  };

  const postgres = await TestPostgres.start({ durable: true });
  try {
    const pgUrl = await postgres.createDatabase();
    await seedBindings(pgUrl, n, 0, (url) => PostgresStore.open(url, { timeoutMs: 30_000, poolSize: 2 }));
    // Statistics, as autovacuum would have gathered by then: without them the first copies plan badly.
    const analyze = new pg.Client({ connectionString: pgUrl });
    await analyze.connect();
    await analyze.query('ANALYZE');
    await analyze.end();

    for (let round = 1; round <= runs; round++) {
      // Each SQLite measure starts from the same file: feedback and unbind change what the next would find.
      for (const [key, route, perRequest] of [
        ['feedback', '/api/v1/feedback', ITEMS],
        ['seen', '/api/v1/tokens/seen', ITEMS],
        ['unbind', '/v3/device/account/batchoperate', UNBIND_TOKENS],
      ] as const) {
        const file = join(dir, `lifecycle-${key}.db`);
        copyFileSync(seed, file);
        const server = await start(SERVER, { BINDERY_DATABASE_URL: `sqlite:${file}`, BINDERY_BOOTSTRAP_APP: 'false' });
        try {
          record(
            `${key} sqlite`,
            await load(`${server.url}${route}`, auth, body[key], seconds, CONNECTIONS),
            perRequest,
          );
        } finally {
          await server.stop();
        }
      }
      const plain = join(dir, 'lifecycle-plain.db');
      copyFileSync(seed, plain);
      (results['seen plain'] ??= []).push({
        rps: plainSeen(plain, n, seconds),
        p50: Number.NaN,
        p99: Number.NaN,
        errors: 0,
      });
      log(`  seen plain: ${Math.round(results['seen plain']!.at(-1)!.rps)} items/s`);

      // And on PostgreSQL, each from a fresh copy of the seeded database (CREATE DATABASE … TEMPLATE).
      for (const [key, route] of [
        ['feedback', '/api/v1/feedback'],
        ['seen', '/api/v1/tokens/seen'],
      ] as const) {
        const copy = await postgres.createDatabase(pgUrl);
        const server = await start(SERVER, { BINDERY_DATABASE_URL: copy, BINDERY_BOOTSTRAP_APP: 'false' });
        try {
          record(`${key} postgres`, await load(`${server.url}${route}`, auth, body[key], seconds, CONNECTIONS), ITEMS);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await postgres.stop();
  }
  const m = (key: string) => median(results[key]!, (r) => r.rps);
  const row = (what: string, key: string, note = '') => {
    const r = m(key);
    const latency = Number.isNaN(r.p50) ? '- | -' : `${r.p50} | ${r.p99}`;
    console.log(`| ${what} | ${Math.round(r.rps).toLocaleString('en')} | ${latency} | ${note} |`);
  };
  console.log(
    `\n### Token lifecycle writes (${n.toLocaleString('en')} bindings, ${CONNECTIONS} connections, ${seconds} s; median of ${runs})\n`,
  );
  console.log('| what | items/s | p50 ms | p99 ms | note |\n| --- | --- | --- | --- | --- |');
  const ratio = (a: string, b: string) => (m(a).rps / m(b).rps).toFixed(2);
  row(
    'feedback, 1,000 dead tokens a request (SQLite)',
    'feedback sqlite',
    'each quarantines a token: history, durable',
  );
  row(
    'what a send service does without it: batchoperate op 4, 100 tokens a request (SQLite)',
    'unbind sqlite',
    `feedback is ${ratio('feedback sqlite', 'unbind sqlite')}x, and keeps who the tokens belonged to`,
  );
  row('seen, 1,000 tokens a request (SQLite)', 'seen sqlite', 'no history');
  row(
    'the same UPDATEs straight into the SQLite file, 1,000 per durable commit (no HTTP, rules)',
    'seen plain',
    `seen is ${ratio('seen sqlite', 'seen plain')} of it`,
  );
  row('feedback, 1,000 dead tokens a request (PostgreSQL)', 'feedback postgres', 'fsync on');
  row('seen, 1,000 tokens a request (PostgreSQL)', 'seen postgres', 'fsync on');
}
