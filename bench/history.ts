/**
 * `npm run bench -- --only history`: what a look-up of the history by token or account costs once
 * the history is large, now that its indexes are cut into slices of 1,024 ids (walked newest first,
 * in steps), on SQLite and on PostgreSQL: the median of 7 look-ups of each kind, and the longest
 * pause of the event loop (other requests' wait) while one walks the whole history. The rows are
 * written straight into the database in one statement, so the time that takes is the indexes' upkeep.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { BindingStore, HistoryFilter } from '../src/model/store.ts';
import { DEFAULT_POLICY } from '../src/model/types.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { TestPostgres } from '../test/support/postgres-server.ts';
import { APP } from './harness.ts';

export interface HistoryBenchOptions {
  dir: string;
  quick: boolean;
  log: (line: string) => void;
}

// Tokens and accounts spread like real ones: each of ~2,000,000 tokens and ~1,000,000 accounts a few times.
const columns = (appId: number) =>
  `${appId}, ${Date.now()}, 1, 'bind', 'tok' || (i * 7919 % 2000003), 'acc' || (i * 104729 % 1000003), 0,
      'android', 'req-' || i`;
const INTO =
  'INSERT INTO history (app_id, at, operator_type, cause, token, account, account_type, platform, request_id)';

export async function historyBench({ dir, quick, log }: HistoryBenchOptions): Promise<void> {
  const rows = quick ? 500_000 : 5_000_000;
  const path = join(dir, 'history.db');
  await measure('SQLite', rows, log, {
    open: () => SqliteStore.open(path),
    write(appId) {
      const db = new Database(path);
      db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
        ${INTO} SELECT ${columns(appId)} FROM n`);
      db.close();
      return Promise.resolve();
    },
  });
  const postgres = await TestPostgres.start({ durable: true });
  try {
    const url = await postgres.createDatabase();
    await measure('PostgreSQL', rows, log, {
      open: () => PostgresStore.open(url, { timeoutMs: 600_000, poolSize: 2 }),
      async write(appId) {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          // bigint: i * 104729 passes an int4.
          await client.query(`${INTO} SELECT ${columns(appId)} FROM generate_series(1::bigint, ${rows}) AS i`);
          await client.query('VACUUM ANALYZE history');
        } finally {
          await client.end();
        }
      },
    });
  } finally {
    await postgres.stop();
  }
}

async function measure(
  name: string,
  rows: number,
  log: (line: string) => void,
  backend: { open(): Promise<BindingStore>; write(appId: number): Promise<void> },
): Promise<void> {
  let store = await backend.open();
  const app = await store.createApp({ ...APP, name: 'history', policy: DEFAULT_POLICY });
  await store.close();
  log(`history: writing ${rows.toLocaleString('en')} history rows into ${name}`);
  const started = performance.now();
  await backend.write(app.id);
  const writeSeconds = (performance.now() - started) / 1000;
  store = await backend.open();
  try {
    const time = async (filter: HistoryFilter) => {
      const times: number[] = [];
      let found = 0;
      for (let k = 0; k < 7; k++) {
        const at = performance.now();
        found = (await store.history(app.id, filter, 100)).length;
        times.push(performance.now() - at);
      }
      return { found, ms: times.sort((a, b) => a - b)[3]!.toFixed(2) };
    };
    const kinds: [string, HistoryFilter][] = [
      ['a token with no history (the whole history is walked)', { token: 'none' }],
      ['a token with history', { token: 'tok5' }],
      ['an account with history', { account: { account: 'acc7', accountType: 0 } }],
      ['one binding, none', { token: 'tok5', account: { account: 'none', accountType: 0 } }],
      ['the newest 100 of the app', {}],
    ];
    console.log(
      `\n### History look-ups on ${name} (${rows.toLocaleString('en')} history rows of one app, ` +
        `written in ${writeSeconds.toFixed(1)} s; median of 7)\n`,
    );
    console.log('| look-up | rows found | ms |\n| --- | --- | --- |');
    for (const [label, filter] of kinds) {
      const { found, ms } = await time(filter);
      console.log(`| ${label} | ${found} | ${ms} |`);
    }
    let last = performance.now();
    let longest = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 0);
    await store.history(app.id, { token: 'none' }, 100);
    clearInterval(tick);
    console.log(`\nThe longest pause of the event loop while the whole history is walked: ${longest.toFixed(1)} ms.`);
  } finally {
    await store.close();
  }
}
