/**
 * `npm run bench:replicas`: two bindery instances on a PostgreSQL primary (fsync on), reading from
 * the primary alone or from a streaming replica, in interleaved rounds: query op 1 throughput
 * (autocannon on both instances at once), and the cost of read-your-writes (a client that reads
 * right after its own write, through the other instance, sending the position back).
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import { APP, basic, median, type Proc, SERVER, seedBindings, start } from './harness.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '8' } },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const BINDINGS = 200_000;
const log = (line: string) => process.stderr.write(`${line}\n`);
const auth = basic(APP.accessId, APP.secretKey);
const random = (n: number) => Math.floor(Math.random() * n);

const primary = await TestPostgres.start({ durable: true });
const replica = await primary.startReplica();
try {
  const url = await primary.createDatabase();
  const readUrl = replica.url(new URL(url).pathname.slice(1));
  log(`seeding ${BINDINGS.toLocaleString('en')} bindings`);
  await seedBindings(url, BINDINGS, 0, (at) => PostgresStore.open(at, { timeoutMs: 30_000, poolSize: 2 }));
  await primary.sql('CHECKPOINT');

  const setups = {
    'primary only': { BINDERY_DATABASE_URL: url },
    'reads on the replica': { BINDERY_DATABASE_URL: url, BINDERY_DATABASE_READ_URLS: readUrl },
  };
  const queries: Record<string, number[]> = {};
  const waits: Record<string, { p50: number[]; p99: number[] }> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? Object.entries(setups) : Object.entries(setups).reverse();
    for (const [name, env] of order) {
      const servers: Proc[] = [];
      for (let i = 0; i < 2; i++) servers.push(await start(SERVER, { ...env, BINDERY_BOOTSTRAP_APP: 'false' }));
      try {
        const body = () =>
          JSON.stringify({ operator_type: 1, account_list: [{ account: `u${random(BINDINGS / 2)}` }] });
        const results = await Promise.all(
          servers.map((s) =>
            autocannon({
              url: `${s.url}/v3/device/account/query`,
              connections: 25,
              duration: SECONDS,
              requests: [
                {
                  method: 'POST',
                  headers: { ...auth, 'content-type': 'application/json' },
                  setupRequest: (r) => ({ ...r, body: body() }),
                },
              ],
            }),
          ),
        );
        const rps = results.reduce((sum, r) => sum + r.requests.average, 0);
        (queries[name] ??= []).push(rps);
        const latencies = await readAfterWrite(servers);
        const sorted = [...latencies].sort((x, y) => x - y);
        const w = (waits[name] ??= { p50: [], p99: [] });
        w.p50.push(sorted[Math.floor(sorted.length / 2)]!);
        w.p99.push(sorted[Math.floor(sorted.length * 0.99)]!);
        log(
          `  ${name} round ${round}: ${Math.round(rps)} queries/s; read after write p50 ${w.p50.at(-1)!.toFixed(2)} ms p99 ${w.p99.at(-1)!.toFixed(2)} ms`,
        );
      } finally {
        for (const s of servers) await s.stop();
      }
    }
  }
  console.log(
    `\n| ${ROUNDS} interleaved rounds | query op 1, 2 instances x 25 connections, req/s (median) | read right after own write via the other instance, p50 / p99 ms (median) |`,
  );
  console.log('| --- | --- | --- |');
  for (const name of Object.keys(setups)) {
    const q = median(queries[name]!, (v) => v);
    const w = waits[name]!;
    console.log(
      `| ${name} | ${Math.round(q).toLocaleString('en')} | ${median(w.p50, (v) => v).toFixed(2)} / ${median(w.p99, (v) => v).toFixed(2)} |`,
    );
  }
} finally {
  await replica.destroy();
  await primary.destroy();
}

/** 300 times: a write through one instance, then a read of it through the other with the position. */
async function readAfterWrite(servers: Proc[]): Promise<number[]> {
  const latencies: number[] = [];
  const headers = { ...auth, 'content-type': 'application/json' };
  for (let i = 0; i < 300; i++) {
    const token = `raw-${Date.now()}-${i}`;
    const written = await fetch(`${servers[0]!.url}/v3/device/account/batchoperate`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ operator_type: 1, token_accounts: [{ token, account_list: [{ account: 'reader' }] }] }),
    });
    await written.text();
    const position = written.headers.get('x-bindery-lsn');
    const started = performance.now();
    const read = await fetch(`${servers[1]!.url}/v3/device/account/query`, {
      method: 'POST',
      headers: { ...headers, ...(position ? { 'x-bindery-lsn': position } : {}) },
      body: JSON.stringify({ operator_type: 2, token_list: [token] }),
    });
    const answer = (await read.json()) as { token_accounts: { account_list: unknown[] }[] };
    latencies.push(performance.now() - started);
    if (answer.token_accounts[0]?.account_list.length !== 1) throw new Error(`read ${i} missed its write`);
  }
  return latencies;
}
