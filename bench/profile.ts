/**
 * CPU profile of the built bindery server (`npm run build:server` first) under load: `node --import tsx
 * bench/profile.ts query|batch [N] [sqlite|postgres]`
 * prints the top self-time functions of the Nth largest profile (0: the main thread), then the
 * self time by source file. On PostgreSQL (fsync on, statistics taken), the store's database is a new one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import { APP, basic, load, SERVER, seedBindings } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'prof-'));
const postgres = process.argv[4] === 'postgres' ? await TestPostgres.start({ durable: true }) : undefined;
const databaseUrl = postgres ? await postgres.createDatabase() : `sqlite:${join(dir, 'p.db')}`;
if (postgres) {
  await seedBindings(databaseUrl, 100_000, 0, (u) => PostgresStore.open(u, { timeoutMs: 30_000, poolSize: 2 }));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('VACUUM ANALYZE');
  await client.end();
} else await seedBindings(databaseUrl.slice('sqlite:'.length), 100_000);
const profDir = join(dir, 'prof');
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, SERVER], {
  env: {
    ...process.env,
    BINDERY_PORT: '8097',
    BINDERY_DATABASE_URL: databaseUrl,
    BINDERY_BOOTSTRAP_APP: 'false',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((r) => child.stdout!.on('data', (c) => String(c).includes('listening') && r(null)));
const kind = process.argv[2] ?? 'query';
const body =
  kind === 'query'
    ? () => JSON.stringify({ operator_type: 1, account_list: [{ account: `u${Math.floor(Math.random() * 50000)}` }] })
    : () =>
        JSON.stringify({
          operator_type: 2,
          token_accounts: Array.from({ length: 20 }, () => {
            const t = Math.floor(Math.random() * 100000);
            return { token: `t${t}`, account_list: [{ account: `u${t >> 1}` }] };
          }),
        });
const r = await load(
  `http://127.0.0.1:8097/v3/device/account/${kind === 'query' ? 'query' : 'batchoperate'}`,
  basic(APP.accessId, APP.secretKey),
  body,
  8,
);
console.log(kind, Math.round(r.rps), r.p50, r.p99);
child.kill('SIGINT');
await new Promise((r) => child.once('exit', r));
await postgres?.destroy();
const files = readdirSync(profDir).map((f) => join(profDir, f));
const which = Number(process.argv[3] ?? 0);
const sized = files.map((f) => [f, readFileSync(f, 'utf8')] as const).sort((a, b) => b[1].length - a[1].length);
console.log(sized.map(([f, t]) => `${f.split('/').at(-1)} ${t.length}`).join('\n'));
const prof = JSON.parse(sized[which]![1]) as {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
};
const self = new Map<number, number>();
prof.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
});
const byFn = new Map<string, number>();
for (const n of prof.nodes) {
  const key =
    `${n.callFrame.functionName || '(anon)'} ` +
    `${n.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/work\/main\//, '')}:${n.callFrame.lineNumber}`;
  byFn.set(key, (byFn.get(key) ?? 0) + (self.get(n.id) ?? 0));
}
const total = [...byFn.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 28))
  console.log(((v / total) * 100).toFixed(1).padStart(5), k);
const byFile = new Map<string, number>();
for (const [k, v] of byFn) {
  const file = k.split(' ').at(-1)!.replace(/:\d+$/, '') || '(native: gc, idle, program)';
  byFile.set(file, (byFile.get(file) ?? 0) + v);
}
console.log('\nby file');
for (const [k, v] of [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20))
  console.log(((v / total) * 100).toFixed(1).padStart(5), k);
