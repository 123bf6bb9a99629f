/** Shared pieces of the benchmarks: processes, autocannon runs, medians, seeding. */

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { BindingStore } from '../src/model/store.ts';
import { asBound, DEFAULT_POLICY } from '../src/model/types.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Proc {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The server as `npm start` runs it: its node flags and built script, read from package.json (built by `npm run bench`
 * first).
 */
export const START_ARGS = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .split(' ')
  .filter((word) => word !== 'exec')
  .slice(1);
export const SERVER = START_ARGS.at(-1)!;

/**
 * Starts a node script that prints "listening on <url>": the server with npm start's flags, TypeScript through tsx.
 * bindery runs in its default configuration (log level info included), as a user starts it.
 */
export async function start(script: string, env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, script === SERVER ? START_ARGS : ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, BINDERY_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (!match?.[1]) return;
      // From here on the output is read and dropped, as a log collector would take it: not kept, not searched.
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve(match[1]);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening`)));
  });
  return {
    url,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A process's resident memory in MB: now (VmRSS), or at its peak (VmHWM). */
export const rssMb = (pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** With `withCpu`: CPU cores busy over the run, of the whole box, of the server's processes, and of this process (the load). */
  cpu?: { box: number; server: number; load: number };
}

/** /proc counts CPU time in clock ticks of 1/100 s (Linux's USER_HZ). */
const TICKS_PER_SECOND = 100;

/** CPU time used so far, in seconds: of a process (user + system, from /proc/<pid>/stat), or of the whole box (/proc/stat). */
function cpuSeconds(pid?: number): number {
  if (pid === undefined) {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // Everything but idle and iowait.
    return (fields.reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!) / TICKS_PER_SECOND;
  }
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * The run, with the cores it kept busy: the whole box, the server's processes (`pids`: one, or each instance)
 * and this one. What is left of the box's, on a machine doing nothing else, is the database server's.
 */
export async function withCpu(pids: number | number[], run: () => Promise<LoadResult>): Promise<LoadResult> {
  const servers = () => [pids].flat().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const before = { box: cpuSeconds(), server: servers(), load: cpuSeconds(process.pid), at: performance.now() };
  const result = await run();
  const seconds = (performance.now() - before.at) / 1000;
  const cores = (now: number, then: number) => (now - then) / seconds;
  return {
    ...result,
    cpu: {
      box: cores(cpuSeconds(), before.box),
      server: cores(servers(), before.server),
      load: cores(cpuSeconds(process.pid), before.load),
    },
  };
}

/**
 * `connections` POSTs to `url` for `seconds`; `body` makes each request's body, or its body and
 * headers of its own (added to `headers`).
 */
export async function load(
  url: string,
  headers: Record<string, string>,
  body: () => string | { body: string; headers: Record<string, string> },
  seconds: number,
  connections = 50,
): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        setupRequest: (req) => {
          const made = body();
          return typeof made === 'string'
            ? { ...req, body: made }
            : { ...req, body: made.body, headers: { ...req.headers, ...made.headers } };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

export function median<T>(runs: T[], key: (r: T) => number): T {
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor(runs.length / 2)]!;
}

/** The median of ratios; of an even number, the geometric mean of the two in the middle (not the upper one). */
export function medianRatio(ratios: number[]): number {
  const sorted = [...ratios].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[half]! : Math.sqrt(sorted[half - 1]! * sorted[half]!);
}

export const basic = (id: string, key: string) => ({
  authorization: `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}`,
});

export const APP = { accessId: '1500000001', secretKey: 'b'.repeat(32) };

/**
 * A store with one app and `count` bindings (those from `from` on are added): account u<i> has tokens t<2i>,
 * t<2i+1>. `where`: a SQLite path, or what `open` takes (a PostgreSQL URL; another build's store, for a
 * schema both builds can open).
 */
export async function seedBindings(
  where: string,
  count: number,
  from = 0,
  open: (path: string) => Promise<BindingStore> = SqliteStore.open,
): Promise<void> {
  const store = await open(where);
  const app =
    (await store.findApp(APP.accessId)) ?? (await store.createApp({ ...APP, name: 'bench', policy: DEFAULT_POLICY }));
  const base = Date.now() * 1000 - count;
  for (let i = from; i < count; i += 50_000) {
    const n = Math.min(50_000, count - i);
    await store.importBindings(
      app.id,
      Array.from({ length: n }, (_, k) =>
        asBound({
          token: `t${i + k}`,
          account: `u${(i + k) >> 1}`,
          accountType: 0,
          platform: 'android' as const,
          boundAt: base + i + k,
        }),
      ),
    );
  }
  await store.close();
}

/**
 * The durable write of the benches: batchoperate op 2 of 20 random seeded tokens, each with the
 * account seedBindings gave it (token t<i>, account u<i/2>), over a store of `bindings`.
 */
export const rebindBody = (bindings: number) => (): string =>
  JSON.stringify({
    operator_type: 2,
    token_accounts: Array.from({ length: 20 }, () => {
      const t = Math.floor(Math.random() * bindings);
      return { token: `t${t}`, account_list: [{ account: `u${t >> 1}` }] };
    }),
  });

/** A route to warm up: its URL, headers and a maker of request bodies. */
export type WarmUpTarget = [url: string, headers: Record<string, string>, body: () => string];

/**
 * A short load on each target before the first round: its code optimized and its caches filled, as in a
 * server that has been up a while (without it, the first round of a server with more code to optimize
 * measured its warm-up).
 */
export async function warmUp(log: (line: string) => void, targets: WarmUpTarget[], seconds = 2): Promise<void> {
  log(`warming up: ${seconds} s on each of ${targets.length} routes`);
  for (const [url, headers, body] of targets) await load(url, headers, body, seconds);
}

/**
 * Runs every measurement once per round, round after round, so that each round's figures share
 * the machine's state (a shared 2-core box drifts by ±30% over minutes). Returns, per key, the
 * median run and the median of the per-round ratios named in `ratios` ([numerator, denominator] keys).
 */
export async function rounds(
  runs: number,
  log: (line: string) => void,
  measure: Record<string, () => Promise<LoadResult>>,
  ratioOf: Record<string, [string, string]> = {},
): Promise<{ median: Record<string, LoadResult>; ratio: Record<string, number> }> {
  const all: Record<string, LoadResult[]> = {};
  const ratios: Record<string, number[]> = {};
  for (let round = 1; round <= runs; round++) {
    // Every other round runs backwards: a row and the one it is compared with take turns going first
    // (as often as each other with an even number of rounds: the second of a pair measured higher).
    const entries = Object.entries(measure);
    if (round % 2 === 0) entries.reverse();
    for (const [key, once] of entries) {
      const result = await once();
      (all[key] ??= []).push(result);
      log(
        `  ${key} round ${round}: ${Math.round(result.rps)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms, errors ${result.errors}`,
      );
    }
    for (const [name, [top, base]] of Object.entries(ratioOf))
      (ratios[name] ??= []).push(all[top]!.at(-1)!.rps / all[base]!.at(-1)!.rps);
  }
  return {
    median: Object.fromEntries(Object.entries(all).map(([key, runs]) => [key, median(runs, (r) => r.rps)])),
    ratio: Object.fromEntries(Object.entries(ratios).map(([key, values]) => [key, medianRatio(values)])),
  };
}

/** The other tenant of the exports and backup benches: app B with 10,000 accounts, one token each. */
export const OTHER = { accessId: '1500000002', secretKey: 'c'.repeat(32), accounts: 10_000 };

/** Adds app B to the store at `db` (closed again after). */
async function seedOtherTenant(db: string): Promise<void> {
  const store = await SqliteStore.open(db);
  const other = await store.createApp({
    accessId: OTHER.accessId,
    secretKey: OTHER.secretKey,
    name: 'other tenant',
    policy: DEFAULT_POLICY,
  });
  await store.importBindings(
    other.id,
    Array.from({ length: OTHER.accounts }, (_, i) =>
      asBound({ token: `b${i}`, account: `v${i}`, accountType: 0, platform: 'ios' as const, boundAt: 1_000_000 + i }),
    ),
  );
  await store.close();
}

/** App B's TPNS query (op 1, a random account) on 10 connections for `seconds`. */
const queryOtherTenant = (url: string, seconds: number): Promise<LoadResult> =>
  load(
    `${url}/v3/device/account/query`,
    basic(OTHER.accessId, OTHER.secretKey),
    () =>
      JSON.stringify({
        operator_type: 1,
        account_list: [{ account: `v${Math.floor(Math.random() * OTHER.accounts)}` }],
      }),
    seconds,
    10,
  );

/**
 * One tenant's heavy work against another's queries, on one server (what `npm start` runs) over a
 * store of `bindings` in app A and app B's 10,000: each round measures B's queries alone, then
 * while `disturb` runs (it starts when called, and its answer stops it). Prints the rounds of
 * median p99, alone and disturbed, as a table under `title`.
 */
export async function otherTenantRounds(o: {
  db: string;
  bindings: number;
  seconds: number;
  runs: number;
  log: (line: string) => void;
  title: string;
  during: string;
  disturb: (url: string) => Promise<() => Promise<void>>;
}): Promise<void> {
  o.log(`${o.during}: seeding ${o.bindings} bindings in app A, ${OTHER.accounts} in app B`);
  await seedBindings(o.db, o.bindings);
  await seedOtherTenant(o.db);
  const server = await start(SERVER, { BINDERY_DATABASE_URL: `sqlite:${o.db}`, BINDERY_BOOTSTRAP_APP: 'false' });
  const alone: LoadResult[] = [];
  const disturbed: LoadResult[] = [];
  const line = (r: LoadResult) => `${Math.round(r.rps)} req/s, p99 ${r.p99} ms`;
  try {
    for (let round = 1; round <= o.runs; round++) {
      alone.push(await queryOtherTenant(server.url, o.seconds));
      o.log(`  B alone round ${round}: ${line(alone.at(-1)!)}`);
      const stop = await o.disturb(server.url);
      disturbed.push(await queryOtherTenant(server.url, o.seconds));
      await stop();
      o.log(`  B ${o.during} round ${round}: ${line(disturbed.at(-1)!)}`);
    }
  } finally {
    await server.stop();
  }
  const row = (label: string, r: LoadResult) =>
    `| ${label} | ${Math.round(r.rps).toLocaleString('en')} | ${r.p50} | ${r.p99} | ${r.errors} |`;
  console.log(`\n### ${o.title} (SQLite, B: 10 connections, ${o.seconds} s; median of ${o.runs} rounds)\n`);
  console.log('| app B query op 1 | req/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- |');
  console.log(
    row(
      'alone',
      median(alone, (r) => r.p99),
    ),
  );
  console.log(
    row(
      o.during,
      median(disturbed, (r) => r.p99),
    ),
  );
}
