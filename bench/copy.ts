/**
 * `bindery copy` speed: N bindings from SQLite into a fresh embedded PostgreSQL.
 * Usage: node --import tsx bench/copy.ts [--bindings 1000000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { asBound, DEFAULT_POLICY } from '../src/model/types.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';

const { values } = parseArgs({ options: { bindings: { type: 'string', default: '1000000' } } });
const total = Number(values.bindings);
const dir = mkdtempSync(join(tmpdir(), 'bindery-copy-'));
const file = join(dir, 'source.db');
const source = await SqliteStore.open(file);
const app = await source.createApp({
  accessId: '1500000001',
  name: 'bench',
  secretKey: 'a'.repeat(32),
  policy: DEFAULT_POLICY,
});
for (let i = 0; i < total; i += 10_000) {
  await source.importBindings(
    app.id,
    Array.from({ length: Math.min(10_000, total - i) }, (_, k) =>
      asBound({
        token: `token-${String(i + k).padStart(9, '0')}-${'x'.repeat(40)}`,
        account: `user-${(i + k) % (total / 2)}`,
        accountType: 0,
        platform: 'android' as const,
        boundAt: 1_700_000_000_000_000 + i + k,
      }),
    ),
  );
}
await source.close();
const postgres = await TestPostgres.start();
try {
  const url = await postgres.createDatabase();
  const run = spawnSync(
    process.execPath,
    ['bin/bindery.js', 'copy', '--from', `sqlite:${file}`, '--to', url, '--json'],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(run.stderr);
  const summary = JSON.parse(run.stdout) as {
    bindings: number;
    seconds: number;
    bindings_per_second: number;
    verified: boolean;
  };
  console.log(
    `bindery copy sqlite -> postgres: ${summary.bindings} bindings in ${summary.seconds} s = ` +
      `${summary.bindings_per_second} bindings/s (verified: ${summary.verified})`,
  );
} finally {
  await postgres.destroy();
  rmSync(dir, { recursive: true, force: true });
}
