/**
 * Where PostgreSQL's time goes per durable write (issue 37, items 2 and 3): bindery and the lean
 * service (bench/lean-server.ts) on one PostgreSQL with pg_stat_statements, each on its own
 * database of 1,000,000 bindings, taking turns under the same batchoperate op 2 (20 tokens × 1
 * account, 50 connections). Per answered request: the CPU of each service's process, of the load
 * generator (autocannon, in this process) and of the database (every PostgreSQL process, from
 * /proc: what else runs on the box does not count), and each statement's calls, execution time,
 * rows and WAL bytes (pg_stat_statements, top-level statements: one inside a function counts in
 * its call).
 *
 * Usage: npm run bench:statements [-- --seconds 10 --rounds 2 --dir /dev/shm]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import { APP, basic, load, type Proc, rebindBody, SERVER, seedBindings, start, warmUp } from './harness.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    bindings: { type: 'string', default: '1000000' },
    dir: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const BINDINGS = Number(values.bindings);
const log = (line: string) => process.stderr.write(`${line}\n`);
const B = '/v3/device/account/batchoperate';
const auth = basic(APP.accessId, APP.secretKey);
const batchBody = rebindBody(BINDINGS);

/** /proc's CPU seconds of a process (user + system), and with `children` those of its waited-for children. */
function cpu(pid: number, children = false): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) / 100;
}

/** Every PostgreSQL process's CPU seconds so far: the postmaster, its live children, those that exited. */
function databaseCpu(postmaster: number): number {
  let sum = cpu(postmaster, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.split(') ')[1]!.split(' ')[1]) === postmaster) sum += cpu(Number(entry));
    } catch {
      // It exited meanwhile: its time is in the postmaster's children's now.
    }
  }
  return sum;
}

interface Statement {
  query: string;
  calls: number;
  ms: number;
  rows: number;
  wal: number;
}
interface Turn {
  requests: number;
  serviceMs: number;
  databaseMs: number;
  loadMs: number;
  statements: Statement[];
}

const postgres = await TestPostgres.start({
  durable: true,
  ...(values.dir ? { base: join(values.dir, `bindery-statements-${process.pid}`) } : {}),
  settings: ['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=top'],
});
const postmaster = Number(readFileSync(join(postgres.files.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
const servers: Proc[] = [];
const admin = new pg.Client({ connectionString: postgres.url('postgres') });
try {
  await admin.connect();
  await admin.query('CREATE EXTENSION pg_stat_statements');
  const binderyUrl = await postgres.createDatabase();
  const leanUrl = await postgres.createDatabase();
  log(`seeding ${BINDINGS} bindings for each service`);
  await seedBindings(binderyUrl, BINDINGS, 0, (u) => PostgresStore.open(u, { timeoutMs: 30_000, poolSize: 2 }));
  const lean = await start('bench/lean-server.ts', {
    BENCH_POSTGRES: leanUrl,
    BENCH_AUTH: auth.authorization!,
    BENCH_SEED: String(BINDINGS),
  });
  const bindery = await start(SERVER, { BINDERY_DATABASE_URL: binderyUrl, BINDERY_BOOTSTRAP_APP: 'false' });
  servers.push(lean, bindery);
  // Each database's statistics, as autovacuum would have them on a store that has been up a while.
  for (const url of [binderyUrl, leanUrl]) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('VACUUM ANALYZE');
    await client.end();
  }
  await warmUp(log, [
    [`${lean.url}${B}`, auth, batchBody],
    [`${bindery.url}${B}`, auth, batchBody],
  ]);

  const turn = async (service: Proc, url: string): Promise<Turn> => {
    const database = new URL(url).pathname.slice(1);
    await admin.query('CHECKPOINT');
    await admin.query('SELECT pg_stat_statements_reset()');
    const before = { service: cpu(service.child.pid!), database: databaseCpu(postmaster), load: cpu(process.pid) };
    const result = await load(`${service.url}${B}`, auth, batchBody, SECONDS);
    const requests = result.rps * SECONDS;
    const { rows } = await admin.query<Statement>(
      `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls::float8 AS calls,
              total_exec_time AS ms, rows::float8 AS rows, wal_bytes::float8 AS wal
         FROM pg_stat_statements JOIN pg_database d ON d.oid = dbid
        WHERE d.datname = $1 ORDER BY total_exec_time DESC`,
      [database],
    );
    return {
      requests,
      serviceMs: ((cpu(service.child.pid!) - before.service) * 1000) / requests,
      databaseMs: ((databaseCpu(postmaster) - before.database) * 1000) / requests,
      loadMs: ((cpu(process.pid) - before.load) * 1000) / requests,
      statements: rows.map((r) => ({
        ...r,
        calls: r.calls / requests,
        ms: r.ms / requests,
        rows: r.rows / requests,
        wal: r.wal / requests,
      })),
    };
  };
  const turns: Record<string, Turn[]> = { lean: [], bindery: [] };
  for (let round = 1; round <= Number(values.rounds); round++) {
    const order: [string, Proc, string][] = [
      ['lean', lean, leanUrl],
      ['bindery', bindery, binderyUrl],
    ];
    if (round % 2 === 0) order.reverse();
    for (const [name, service, url] of order) {
      const t = await turn(service, url);
      turns[name]!.push(t);
      log(
        `  ${name} round ${round}: ${Math.round(t.requests / SECONDS)} req/s, service ${t.serviceMs.toFixed(3)} ms, ` +
          `PostgreSQL ${t.databaseMs.toFixed(3)} ms a write`,
      );
    }
  }

  const f = (x: number, digits = 3) => x.toFixed(digits);
  console.log(
    `\n### PostgreSQL per durable write: bindery and the lean service (${BINDINGS.toLocaleString('en')} bindings, ` +
      `${SECONDS} s a turn, ${values.rounds} rounds; the round with the median database CPU)\n`,
  );
  console.log(
    '| service | req/s | service process, ms CPU | PostgreSQL, ms CPU | load generator, ms CPU | statements, ms executing | WAL, bytes |\n' +
      '| --- | --- | --- | --- | --- | --- | --- |',
  );
  const chosen: Record<string, Turn> = {};
  for (const [name, all] of Object.entries(turns)) {
    const t = [...all].sort((a, b) => a.databaseMs - b.databaseMs)[Math.floor(all.length / 2)]!;
    chosen[name] = t;
    const sum = (key: 'ms' | 'wal') => t.statements.reduce((s, x) => s + x[key], 0);
    console.log(
      `| ${name} | ${Math.round(t.requests / SECONDS).toLocaleString('en')} | ${f(t.serviceMs)} | ${f(t.databaseMs)} | ${f(t.loadMs)} | ` +
        `${f(sum('ms'))} | ${Math.round(sum('wal')).toLocaleString('en')} |`,
    );
  }
  for (const [name, t] of Object.entries(chosen)) {
    console.log(`\n${name}, per answered write (statements of at least 0.001 ms):\n`);
    console.log('| statement | calls | ms executing | rows | WAL bytes |\n| --- | --- | --- | --- | --- |');
    for (const s of t.statements.filter((x) => x.ms >= 0.001)) {
      const text = s.query.length > 110 ? `${s.query.slice(0, 110)}…` : s.query;
      console.log(
        `| \`${text.replaceAll('|', '\\|')}\` | ${f(s.calls)} | ${f(s.ms)} | ${f(s.rows, 1)} | ${Math.round(s.wal).toLocaleString('en')} |`,
      );
    }
  }
} finally {
  for (const server of servers) await server.stop();
  await admin.end().catch(() => undefined);
  await postgres.destroy();
}
