/**
 * One tenant's writes beside another tenant's flood (`npm run bench:fairness`): tenant B sends a
 * small batch (op 2, 5 bindings) 20 times a second, open loop, first alone and then while tenant A
 * floods the same instance with 100-binding batches (op 1, new tokens) from many connections, with
 * no rate limit. Prints B's p50/p99/max latency in each phase and A's throughput: the figures of
 * BENCHMARKS.md "One tenant's writes beside another's flood".
 * Flags: --store sqlite|postgres (default both), --seconds S (10), --flood C (connections, 64).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { TestPostgres } from '../test/support/postgres-server.ts';
import { basicHeader, cli } from '../test/support/server-process.ts';
import { SERVER, start } from './harness.ts';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    flood: { type: 'string', default: '64' },
  },
});
const SECONDS = Number(values.seconds);
const FLOOD = Number(values.flood);
const B_PER_SECOND = 20;
const BATCH = '/v3/device/account/batchoperate';
const log = (line: string) => process.stderr.write(`${line}\n`);

function app(url: string, name: string): Record<string, string> {
  const made = cli(['app', 'create', '--name', name, '--json'], { BINDERY_DATABASE_URL: url });
  if (made.status !== 0) throw new Error(made.stderr);
  const { access_id, secret_key } = JSON.parse(made.stdout) as { access_id: string; secret_key: string };
  return { authorization: basicHeader(access_id, secret_key), 'content-type': 'application/json' };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** B's paced writes for `seconds` (or, `health`, paced GET /healthz): each latency in ms, and how many failed. */
async function quietTenant(url: string, headers: Record<string, string>, seconds: number, health = false) {
  const latencies: number[] = [];
  let failed = 0;
  const sends: Promise<void>[] = [];
  const end = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < end; i++) {
    const body = JSON.stringify({
      operator_type: 2,
      token_accounts: Array.from({ length: 5 }, (_, k) => ({
        token: `quiet-${(i * 5 + k) % 5000}`,
        account_list: [{ account: `q${(i * 5 + k) % 5000}` }],
      })),
    });
    const sent = performance.now();
    const request = health ? fetch(`${url}/healthz`) : fetch(url + BATCH, { method: 'POST', headers, body });
    sends.push(
      request.then(async (response) => {
        const answer = (await response.json()) as { ret_code?: number };
        if (response.status !== 200 || (!health && answer.ret_code !== 0)) failed++;
        latencies.push(performance.now() - sent);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000 / B_PER_SECOND));
  }
  await Promise.all(sends);
  latencies.sort((a, b) => a - b);
  return {
    n: latencies.length,
    failed,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1)!,
  };
}

async function measure(kind: string, databaseUrl: string): Promise<void> {
  const quiet = app(databaseUrl, 'quiet');
  const flood = app(databaseUrl, 'flood');
  const server = await start(SERVER, { BINDERY_DATABASE_URL: databaseUrl, BINDERY_BOOTSTRAP_APP: 'false' });
  try {
    await quietTenant(server.url, quiet, 2); // warm-up
    const alone = await quietTenant(server.url, quiet, SECONDS);
    let n = 0;
    const flooding = autocannon({
      url: server.url + BATCH,
      connections: FLOOD,
      duration: SECONDS + 2,
      requests: [
        {
          method: 'POST',
          headers: flood,
          setupRequest: (req) => {
            const i = n++;
            return {
              ...req,
              body: JSON.stringify({
                operator_type: 1,
                token_accounts: Array.from({ length: 20 }, (_, k) => ({
                  token: `flood-${i}-${k}`,
                  account_list: Array.from({ length: 5 }, (_, a) => ({ account: `f${i}-${k}-${a}` })),
                })),
              }),
            };
          },
        },
      ],
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const [beside, health] = await Promise.all([
      quietTenant(server.url, quiet, SECONDS),
      quietTenant(server.url, quiet, SECONDS, true),
    ]);
    const result = await flooding;
    const row = (phase: string, r: Awaited<ReturnType<typeof quietTenant>>) =>
      `| ${kind} | ${phase} | ${r.n} | ${r.failed} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} |`;
    console.log(row('B alone', alone));
    console.log(
      `${row(`B beside A's flood (${FLOOD} connections)`, beside)} A: ${Math.round(result.requests.average)} ` +
        `batches/s (${Math.round(result.requests.average * 100).toLocaleString('en')} bindings/s), ` +
        `non-2xx ${result.non2xx + result.errors}`,
    );
    console.log(row('GET /healthz beside the flood (no store)', health));
  } finally {
    await server.stop();
  }
}

console.log('| store | phase | B batches | B failed | B p50 ms | B p99 ms | B max ms |');
console.log('|---|---|---|---|---|---|---|');
const dir = mkdtempSync(join(tmpdir(), 'bindery-fairness-'));
try {
  if (!values.store || values.store === 'sqlite') await measure('SQLite', `sqlite:${join(dir, 'b.db')}`);
  if (!values.store || values.store === 'postgres') {
    const postgres = await TestPostgres.start({ durable: true });
    try {
      await measure('PostgreSQL', await postgres.createDatabase());
    } finally {
      await postgres.destroy();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
log('done');
