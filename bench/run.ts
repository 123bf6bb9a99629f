/**
 * `npm run bench`: HTTP throughput against a bare Fastify ceiling, bulk import against plain
 * inserts, growth to 10,000,000 bindings, and one tenant's queries during another's exports.
 * Prints the tables that BENCHMARKS.md records.
 * Flags: --quick (small sizes, one run), --only http|bulk|growth|exports|cli|lifecycle|postgres|history|backup,
 * --dir DIR (where the SQLite files go; /dev/shm for a disk whose flushes cost nothing).
 */

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { backupBench } from './backup.ts';
import { bulkBench } from './bulk.ts';
import { cliBench } from './cli.ts';
import { exportsBench } from './exports.ts';
import {
  APP,
  basic,
  type LoadResult,
  load,
  rounds,
  rssMb,
  SERVER,
  seedBindings,
  start,
  warmUp,
  withCpu,
} from './harness.ts';
import { historyBench } from './history.ts';
import { lifecycleBench } from './lifecycle.ts';
import { postgresHttpBench } from './postgres-http.ts';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, dir: { type: 'string' } },
});
const QUICK = values.quick;
// Even: every other round runs backwards (rounds() in harness.ts), so each order counts as often.
const RUNS = QUICK ? 1 : 4;
const SECONDS = QUICK ? 3 : 10;
const only = (section: string) => !values.only || values.only === section;
// --dir: where the SQLite files go, e.g. /dev/shm (a tmpfs: an fsync costs nothing there, as on a disk
// with a power-loss-protected cache), to compare the CPU each service spends rather than the disk's flushes.
const dir = mkdtempSync(join(values.dir ?? tmpdir(), 'bindery-bench-'));
const log = (line: string) => process.stderr.write(`${line}\n`);
const fmt = (r: LoadResult) => `${Math.round(r.rps).toLocaleString('en')} | ${r.p50} | ${r.p99}`;
const random = (n: number) => Math.floor(Math.random() * n);

async function http(): Promise<void> {
  const bindings = QUICK ? 100_000 : 1_000_000;
  const db = join(dir, 'http.db');
  log(`http: seeding ${bindings} bindings`);
  await seedBindings(db, bindings);
  const bare = await start('bench/bare-server.ts', { BENCH_SQLITE: db });
  const bindery = await start(SERVER, { BINDERY_DATABASE_URL: `sqlite:${db}`, BINDERY_BOOTSTRAP_APP: 'false' });
  const auth = basic(APP.accessId, APP.secretKey);
  const handRolled = await start('bench/hand-rolled-server.ts', { BENCH_SQLITE: db, BENCH_AUTH: auth.authorization! });
  // The leanest service a team would write (issue 37): its own table and file, the same bindings.
  const lean = await start('bench/lean-server.ts', {
    BENCH_SQLITE: join(dir, 'lean.db'),
    BENCH_AUTH: auth.authorization!,
    BENCH_SEED: String(bindings),
  });
  const steps = await start('bench/steps-server.ts', {
    BINDERY_DATABASE_URL: `sqlite:${db}`,
    BINDERY_BOOTSTRAP_APP: 'false',
  });
  const accounts = bindings / 2;
  const queryBody = () => JSON.stringify({ operator_type: 1, account_list: [{ account: `u${random(accounts)}` }] });
  const tokenQueryBody = () => JSON.stringify({ operator_type: 2, token_list: [`t${random(bindings)}`] });
  const batchOf = (op: 1 | 2) => () =>
    JSON.stringify({
      operator_type: op,
      token_accounts: Array.from({ length: 20 }, () => {
        const t = random(bindings);
        return { token: `t${t}`, account_list: [{ account: `u${t >> 1}` }] };
      }),
    });
  const batchBody = batchOf(2);
  const Q = '/v3/device/account/query';
  const B = '/v3/device/account/batchoperate';
  try {
    await warmUp(log, [
      [`${bare.url}/echo`, {}, queryBody],
      [`${bare.url}/query`, {}, queryBody],
      [`${steps.url}${Q}`, auth, queryBody],
      [`${bindery.url}${Q}`, auth, queryBody],
      [`${bindery.url}${B}`, auth, batchBody],
      [`${handRolled.url}${Q}`, auth, queryBody],
      [`${handRolled.url}${B}`, auth, batchBody],
      [`${lean.url}${Q}`, auth, queryBody],
      [`${lean.url}${B}`, auth, batchBody],
    ]);
    const { median: m, ratio } = await rounds(
      RUNS,
      log,
      {
        // Each row next to the one it is compared with, so that the box's drift within a round weighs little.
        a: () => load(`${bare.url}/echo`, {}, queryBody, SECONDS),
        a2: () => load(`${bare.url}/query`, {}, queryBody, SECONDS),
        'b-machinery': () => load(`${steps.url}/steps/machinery`, auth, queryBody, SECONDS),
        'b-auth': () => load(`${steps.url}/steps/auth`, auth, queryBody, SECONDS),
        'b-store': () => load(`${steps.url}/steps/store`, auth, queryBody, SECONDS),
        'b-full': () => load(`${steps.url}/v3/device/account/query`, auth, queryBody, SECONDS),
        b: () => withCpu(bindery.child.pid!, () => load(`${bindery.url}${Q}`, auth, queryBody, SECONDS)),
        'h-q1': () => load(`${handRolled.url}${Q}`, auth, queryBody, SECONDS),
        'l-q1': () => withCpu(lean.child.pid!, () => load(`${lean.url}${Q}`, auth, queryBody, SECONDS)),
        'h-q2': () => load(`${handRolled.url}${Q}`, auth, tokenQueryBody, SECONDS),
        'b-q2': () => load(`${bindery.url}${Q}`, auth, tokenQueryBody, SECONDS),
        "a'": () => load(`${bare.url}/echo`, {}, batchBody, SECONDS),
        c: () => withCpu(bindery.child.pid!, () => load(`${bindery.url}${B}`, auth, batchBody, SECONDS)),
        'h-c2': () => load(`${handRolled.url}${B}`, auth, batchBody, SECONDS),
        'l-c2': () => withCpu(lean.child.pid!, () => load(`${lean.url}${B}`, auth, batchBody, SECONDS)),
        'h-c1': () => load(`${handRolled.url}${B}`, auth, batchOf(1), SECONDS),
        'b-c1': () => load(`${bindery.url}${B}`, auth, batchOf(1), SECONDS),
        "c'": async () => ({ rps: plainDurableUpserts(db, bindings, SECONDS) / 20, p50: NaN, p99: NaN, errors: 0 }),
      },
      {
        a2: ['a2', 'a'],
        'b-machinery': ['b-machinery', 'a'],
        'b-auth': ['b-auth', 'a'],
        'b-store': ['b-store', 'a'],
        'b-full': ['b-full', 'a'],
        b: ['b', 'a'],
        'b/a2': ['b', 'a2'],
        c: ['c', 'a'],
        "c/a'": ['c', "a'"],
        "c'": ["c'", "a'"],
        'vs-q1': ['b', 'h-q1'],
        'lean-q1': ['b', 'l-q1'],
        'lean-c2': ['c', 'l-c2'],
        'vs-q2': ['b-q2', 'h-q2'],
        'vs-c2': ['c', 'h-c2'],
        'vs-c1': ['b-c1', 'h-c1'],
        'h-q1/a': ['h-q1', 'a'],
      },
    );
    const r = (key: string) => ratio[key]!.toFixed(2);
    console.log(
      `\n### HTTP (${bindings.toLocaleString('en')} bindings, SQLite, 50 connections, ${SECONDS} s; median of ${RUNS} ` +
        `rounds, ratios are medians of per-round ratios)\n`,
    );
    console.log('| what | req/s | p50 ms | p99 ms | ratio |\n| --- | --- | --- | --- | --- |');
    console.log(`| (a) bare Fastify echo, query-sized body | ${fmt(m.a!)} | 1 |`);
    console.log(`| (a2) bare route + the same SQLite look-up, nothing else | ${fmt(m.a2!)} | ${r('a2')} to a |`);
    console.log(`| (b) query op 1, random existing account | ${fmt(m.b!)} | **${r('b')}** to a, ${r('b/a2')} to a2 |`);
    console.log(`| (a') bare Fastify echo, batch-sized body | ${fmt(m["a'"]!)} | 1 |`);
    console.log(
      `| (c) batchoperate op 2, 20 tokens x 1 account, durable | ${fmt(m.c!)} | **${r('c')}** to a, ${r("c/a'")} to ` +
        `a' |`,
    );
    console.log(
      `| (c') the same upserts straight into the same SQLite file, 1,000 per durable commit (no HTTP, rules or ` +
        `history) | ${Math.round(m["c'"]!.rps).toLocaleString('en')} (x 20 bindings) | - | - | ${r("c'")} to a': the ` +
        `disk's ceiling for (c) |`,
    );
    console.log('\n#### bindery beside the leanest service a team would write (`bench/lean-server.ts`)\n');
    console.log('| request | lean req/s | bindery req/s | bindery / lean |\n| --- | --- | --- | --- |');
    const leanRow = (title: string, l: string, b: string, key: string) =>
      console.log(
        `| ${title} | ${Math.round(m[l]!.rps).toLocaleString('en')} | ${Math.round(m[b]!.rps).toLocaleString('en')} | **${ratio[key]!.toFixed(2)}** |`,
      );
    leanRow('query op 1, random existing account', 'l-q1', 'b', 'lean-q1');
    leanRow('batchoperate op 2, 20 tokens x 1 account, durable', 'l-c2', 'c', 'lean-c2');
    console.log('\nCPU per answered request (median run, from /proc): the server process, and the load generator\n');
    console.log('| request | server | req/s | server ms | load generator ms |\n| --- | --- | --- | --- | --- |');
    for (const [title, key, name] of [
      ['query op 1', 'l-q1', 'lean'],
      ['query op 1', 'b', 'bindery'],
      ['batchoperate op 2, durable', 'l-c2', 'lean'],
      ['batchoperate op 2, durable', 'c', 'bindery'],
    ] as const) {
      const { rps, cpu } = m[key]!;
      if (!cpu) continue;
      const ms = (cores: number) => ((cores / rps) * 1000).toFixed(3);
      console.log(
        `| ${title} | ${name} | ${Math.round(rps).toLocaleString('en')} | ${ms(cpu.server)} | ${ms(cpu.load)} |`,
      );
    }
    console.log('\n#### bindery beside the service a team would hand-roll (`bench/hand-rolled-server.ts`)\n');
    console.log('| request | hand-rolled req/s | bindery req/s | bindery / hand-rolled |\n| --- | --- | --- | --- |');
    const perSecond = (key: string) => Math.round(m[key]!.rps).toLocaleString('en');
    const vs = (title: string, h: string, b: string, key: string) =>
      console.log(`| ${title} | ${perSecond(h)} | ${perSecond(b)} | **${r(key)}** |`);
    vs('query op 1, random existing account', 'h-q1', 'b', 'vs-q1');
    vs('query op 2, random existing token', 'h-q2', 'b-q2', 'vs-q2');
    vs('batchoperate op 2, 20 tokens, durable', 'h-c2', 'c', 'vs-c2');
    vs('batchoperate op 1, 20 tokens, durable', 'h-c1', 'b-c1', 'vs-c1');
    console.log(`\nThe hand-rolled query op 1 is ${r('h-q1/a')} of the bare echo (a).`);
    console.log(
      '\n#### Where the time of (b) goes: the real app, one more real step per row (bench/steps-server.ts, run through tsx)\n',
    );
    console.log(
      '| step | req/s | µs per request (1/req/s) | added by this step | ratio to a |\n| --- | --- | --- | --- | --- |',
    );
    const us = (key: string) => 1e6 / m[key]!.rps;
    const stepRows: [string, string][] = [
      ['a', '(a) bare Fastify echo'],
      ['b-machinery', "+ bindery's machinery: hooks, logging, metrics, request id, response schema"],
      ['b-auth', '+ authentication, rate limit, body parsed'],
      ['b-store', '+ the store look-up (timed)'],
      ['b-full', '+ validation and per-element results: the full query route'],
    ];
    stepRows.forEach(([key, title], i) => {
      const delta = i === 0 ? '-' : (us(key) - us(stepRows[i - 1]![0])).toFixed(1);
      const rps = Math.round(m[key]!.rps).toLocaleString('en');
      console.log(`| ${title} | ${rps} | ${us(key).toFixed(1)} | ${delta} | ${key === 'a' ? '1' : r(key)} |`);
    });
  } finally {
    await bare.stop();
    await bindery.stop();
    await steps.stop();
    await handRolled.stop();
    await lean.stop();
  }
}

/**
 * The ceiling of (c) on this disk: what 50 concurrent requests of 20 random refreshes amount to
 * (1,000 upserts of existing bindings), committed durably as one transaction, with nothing else:
 * no HTTP, no rules, no history. Returns bindings/s.
 */
function plainDurableUpserts(path: string, bindings: number, seconds: number): number {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('wal_autocheckpoint = 10000');
  const upsert = db.prepare(
    'INSERT INTO bindings (app_id, token, account, account_type, platform, bound_at) VALUES (1, ?, ?, 0, ?, ?) ON ' +
      'CONFLICT DO UPDATE SET bound_at = excluded.bound_at',
  );
  const group = db.transaction((at: number) => {
    for (let k = 0; k < 1000; k++) {
      const t = random(bindings);
      upsert.run(`t${t}`, `u${t >> 1}`, 'android', at + k);
    }
  });
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    group(Date.now() * 1000 + done);
    done += 1000;
  }
  const rate = done / ((performance.now() - started) / 1000);
  db.close();
  log(`  plain durable upserts: ${Math.round(rate)} bindings/s`);
  return rate;
}

async function growth(): Promise<void> {
  const sizes = QUICK ? [10_000, 100_000] : [100_000, 1_000_000, 10_000_000];
  console.log(`\n### Growth (SQLite; query op 1 for random existing accounts, 50 connections, ${SECONDS} s)\n`);
  console.log(
    '| bindings | req/s | p50 ms | p99 ms | database size | server RSS |\n| --- | --- | --- | --- | --- | --- |',
  );
  const db = join(dir, 'growth.db');
  let seeded = 0;
  for (const size of sizes) {
    log(`growth: seeding to ${size}`);
    await seedBindings(db, size, seeded);
    seeded = size;
    const server = await start(SERVER, { BINDERY_DATABASE_URL: `sqlite:${db}`, BINDERY_BOOTSTRAP_APP: 'false' });
    try {
      const auth = basic(APP.accessId, APP.secretKey);
      const accounts = size / 2;
      const result = (
        await rounds(RUNS, log, {
          [`growth ${size}`]: () =>
            load(
              `${server.url}/v3/device/account/query`,
              auth,
              () => JSON.stringify({ operator_type: 1, account_list: [{ account: `u${random(accounts)}` }] }),
              SECONDS,
            ),
        })
      ).median[`growth ${size}`]!;
      const bytes = ['', '-wal'].reduce((sum, s) => {
        try {
          return sum + statSync(db + s).size;
        } catch {
          return sum;
        }
      }, 0);
      console.log(
        `| ${size.toLocaleString('en')} | ${fmt(result)} | ${(bytes / 1024 / 1024).toFixed(0)} MB | ` +
          `${rssMb(server.child.pid!).toFixed(0)} MB |`,
      );
    } finally {
      await server.stop();
    }
  }
}

try {
  console.log(
    `## bindery benchmarks${QUICK ? ' (quick)' : ''}: ${new Date().toISOString()}, Node ${process.version}, ` +
      `${(await import('node:os')).cpus().length} cores`,
  );
  if (only('http')) await http();
  if (only('bulk')) await bulkBench({ dir, quick: QUICK, runs: RUNS, log });
  if (only('growth')) await growth();
  if (only('exports')) await exportsBench({ dir, quick: QUICK, seconds: SECONDS, runs: RUNS, log });
  if (only('cli')) cliBench({ dir, runs: 20 });
  if (only('lifecycle')) await lifecycleBench({ dir, quick: QUICK, seconds: SECONDS, runs: RUNS, log });
  if (only('postgres')) await postgresHttpBench({ quick: QUICK, seconds: SECONDS, runs: RUNS, log });
  if (only('history')) await historyBench({ dir, quick: QUICK, log });
  if (only('backup')) await backupBench({ dir, quick: QUICK, seconds: SECONDS, runs: RUNS, log });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
