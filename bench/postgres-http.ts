/**
 * `npm run bench -- --only postgres` (issue 17): bindery on PostgreSQL beside the service a team
 * would hand-roll on `pg` (bench/hand-rolled-server.ts with BENCH_POSTGRES), on one database of
 * 1,000,000 bindings (fsync on), in interleaved rounds: query op 1 and durable batchoperate op 2
 * at 50 connections, the same writes against the hand-rolled service writing bindery's history too
 * (BENCH_HISTORY=1), and from two bindery instances (25 connections each) to see whether one
 * app's write rate rises with a second instance.
 */
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import {
  APP,
  basic,
  type LoadResult,
  load,
  rebindBody,
  rounds,
  SERVER,
  seedBindings,
  start,
  type WarmUpTarget,
  warmUp,
  withCpu,
} from './harness.ts';

export interface PostgresHttpBenchOptions {
  quick: boolean;
  seconds: number;
  runs: number;
  log: (line: string) => void;
}

const Q = '/v3/device/account/query';
const B = '/v3/device/account/batchoperate';

export async function postgresHttpBench({ quick, seconds, runs, log }: PostgresHttpBenchOptions): Promise<void> {
  const n = quick ? 100_000 : 1_000_000;
  const random = (m: number) => Math.floor(Math.random() * m);
  const queryBody = () => JSON.stringify({ operator_type: 1, account_list: [{ account: `u${random(n / 2)}` }] });
  const batchBody = rebindBody(n);
  const auth = basic(APP.accessId, APP.secretKey);
  const postgres = await TestPostgres.start({ durable: true });
  const servers: { stop(): Promise<void> }[] = [];
  try {
    const url = await postgres.createDatabase();
    log(`postgres: seeding ${n} bindings`);
    await seedBindings(url, n, 0, (u) => PostgresStore.open(u, { timeoutMs: 30_000, poolSize: 2 }));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    servers.push({ stop: () => admin.end() });
    await admin.query('ANALYZE');
    // A query row starts from a checkpoint: otherwise whichever query row runs right after the write rows
    // pays for flushing their pages, and the order of the round, not the server, decides the ratio.
    const settled = (run: () => Promise<LoadResult>) => async () => {
      await admin.query('CHECKPOINT');
      return run();
    };
    const env = { BINDERY_DATABASE_URL: url, BINDERY_BOOTSTRAP_APP: 'false' };
    const handEnv = { BENCH_POSTGRES: url, BENCH_AUTH: auth.authorization! };
    // The leanest service a team would write (issue 37): its own database and table, the same bindings.
    const leanUrl = await postgres.createDatabase();
    const lean = await start('bench/lean-server.ts', {
      BENCH_POSTGRES: leanUrl,
      BENCH_AUTH: auth.authorization!,
      BENCH_SEED: String(n),
    });
    servers.push(lean);
    const [hand, handHistory, one, two] = [
      await start('bench/hand-rolled-server.ts', handEnv),
      // The same service also writing bindery's history rows: what that one feature costs it.
      await start('bench/hand-rolled-server.ts', { ...handEnv, BENCH_HISTORY: '1' }),
      await start(SERVER, env),
      await start(SERVER, env),
    ];
    servers.push(hand, handHistory, one, two);
    const both = async (): Promise<LoadResult> => {
      const [a, b] = await Promise.all([one, two].map((s) => load(`${s.url}${B}`, auth, batchBody, seconds, 25)));
      return {
        rps: a!.rps + b!.rps,
        p50: Math.max(a!.p50, b!.p50),
        p99: Math.max(a!.p99, b!.p99),
        errors: a!.errors + b!.errors,
      };
    };
    await warmUp(
      log,
      [lean, hand, handHistory, one, two].flatMap((s): WarmUpTarget[] => [
        [`${s.url}${Q}`, auth, queryBody],
        [`${s.url}${B}`, auth, batchBody],
      ]),
    );
    const { median: m, ratio } = await rounds(
      runs,
      log,
      {
        'l-q1': settled(() => load(`${lean.url}${Q}`, auth, queryBody, seconds)),
        'h-q1': settled(() => load(`${hand.url}${Q}`, auth, queryBody, seconds)),
        'b-q1': settled(() => load(`${one.url}${Q}`, auth, queryBody, seconds)),
        'l-c2': () => withCpu(lean.child.pid!, () => load(`${lean.url}${B}`, auth, batchBody, seconds)),
        'h-c2': () => withCpu(hand.child.pid!, () => load(`${hand.url}${B}`, auth, batchBody, seconds)),
        'hh-c2': () => withCpu(handHistory.child.pid!, () => load(`${handHistory.url}${B}`, auth, batchBody, seconds)),
        'b-c2': () => withCpu(one.child.pid!, () => load(`${one.url}${B}`, auth, batchBody, seconds)),
        'b2-c2': () => withCpu([one.child.pid!, two.child.pid!], both),
      },
      {
        'lean-q1': ['b-q1', 'l-q1'],
        'lean-c2': ['b-c2', 'l-c2'],
        q1: ['b-q1', 'h-q1'],
        c2: ['b-c2', 'h-c2'],
        c2h: ['b-c2', 'hh-c2'],
        history: ['hh-c2', 'h-c2'],
        two: ['b2-c2', 'b-c2'],
      },
    );
    const rps = (key: string) => Math.round(m[key]!.rps).toLocaleString('en');
    const r = (key: string) => ratio[key]!.toFixed(2);
    console.log(
      `\n### PostgreSQL: bindery beside the lean and the hand-rolled pg services (${n.toLocaleString('en')} bindings, fsync on, ` +
        `${seconds} s, median of ${runs} rounds, ratios are medians of per-round ratios)\n`,
    );
    console.log('| request | lean req/s | bindery req/s | bindery / lean |\n| --- | --- | --- | --- |');
    console.log(`| query op 1, random existing account | ${rps('l-q1')} | ${rps('b-q1')} | **${r('lean-q1')}** |`);
    console.log(`| batchoperate op 2, 20 tokens, durable | ${rps('l-c2')} | ${rps('b-c2')} | **${r('lean-c2')}** |`);
    console.log('\n| request | hand-rolled req/s | bindery req/s | bindery / hand-rolled |\n| --- | --- | --- | --- |');
    console.log(`| query op 1, random existing account | ${rps('h-q1')} | ${rps('b-q1')} | **${r('q1')}** |`);
    console.log(`| batchoperate op 2, 20 tokens, durable | ${rps('h-c2')} | ${rps('b-c2')} | **${r('c2')}** |`);
    console.log(
      `| the same, against the hand-rolled service writing bindery's history too | ${rps('hh-c2')} | ${rps('b-c2')} | ` +
        `**${r('c2h')}** |`,
    );
    console.log(`\nThe history alone costs the hand-rolled service: ${r('history')} × its rate without it.`);
    console.log(
      `\nThe same batchoperate from two bindery instances (25 connections each): ${rps('b2-c2')} req/s, ` +
        `**${r('two')}** × one instance at 50 connections.`,
    );
    // What a write costs in CPU, from /proc over the median run: the server's process, and PostgreSQL as
    // what is left of the box's busy time after the server and the load generator (the box runs nothing else).
    console.log(
      '\nCPU per durable write (median run; PostgreSQL = the box busy minus the server and the load generator):\n',
    );
    console.log(
      '| server | req/s | box busy, cores | server process, ms per write | PostgreSQL, ms per write |\n' +
        '| --- | --- | --- | --- | --- |',
    );
    for (const [name, key] of [
      ['lean (bench/lean-server.ts)', 'l-c2'],
      ['hand-rolled', 'h-c2'],
      ['hand-rolled + history', 'hh-c2'],
      ['bindery', 'b-c2'],
      ['bindery, two instances (both processes)', 'b2-c2'],
    ] as const) {
      const { rps: rate, cpu } = m[key]!;
      if (!cpu) continue;
      const ms = (cores: number) => ((cores / rate) * 1000).toFixed(2);
      console.log(
        `| ${name} | ${Math.round(rate).toLocaleString('en')} | ${cpu.box.toFixed(2)} | ${ms(cpu.server)} | ` +
          `${ms(cpu.box - cpu.server - cpu.load)} |`,
      );
    }
  } finally {
    for (const server of servers) await server.stop();
    await postgres.stop();
  }
}
