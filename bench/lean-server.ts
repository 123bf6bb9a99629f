/**
 * The leanest service a team would write instead of bindery (issue 37), as measured from outside:
 * its own table `lean_bindings (token, account, bound_at)` with the primary key (token, account)
 * and one index (account, bound_at, token); Basic auth compared to one string; Fastify with route
 * schemas and no logger; one transaction per request. SQLite: WAL, synchronous=FULL, a DELETE of
 * the request's tokens (op 2) then the upserts. PostgreSQL: a pool of 10, BEGIN, DELETE … WHERE
 * token = ANY($1), one INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE, COMMIT. No history,
 * caps, idempotency, revisions, metrics or account types. On its first start it seeds the bindings
 * bench/harness.ts seeds for bindery (account u<i> has tokens t<2i>, t<2i+1>), BENCH_SEED of them.
 * BENCH_SQLITE=<its own file> or BENCH_POSTGRES=<its own database>; BENCH_AUTH=<Basic header>. Prints its URL.
 */
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import pg from 'pg';

interface Batch {
  operator_type: 1 | 2;
  token_accounts: { token: string; account_list: { account: string }[] }[];
}
interface Backend {
  tokensOf(accounts: string[]): string[][] | Promise<string[][]>;
  bind(batch: Batch): void | Promise<void>;
}

const TABLE = `CREATE TABLE IF NOT EXISTS lean_bindings (
  token TEXT NOT NULL, account TEXT NOT NULL, bound_at BIGINT NOT NULL, PRIMARY KEY (token, account))`;
const INDEX = 'CREATE INDEX IF NOT EXISTS lean_by_account ON lean_bindings (account, bound_at, token)';
const SEED = Number(process.env.BENCH_SEED ?? 0);
const BASE = Date.now() * 1000 - SEED;

function sqlite(path: string): Backend {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'lean_bindings'").get()) {
    db.exec(TABLE);
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
       INSERT INTO lean_bindings SELECT 't' || i, 'u' || (i >> 1), ? + i FROM n`,
    ).run(SEED, BASE);
    db.exec(INDEX);
  }
  const tokensOf = db.prepare('SELECT token FROM lean_bindings WHERE account = ? ORDER BY bound_at').pluck();
  const drop = db.prepare('DELETE FROM lean_bindings WHERE token = ?');
  const upsert = db.prepare(
    'INSERT INTO lean_bindings (token, account, bound_at) VALUES (?, ?, ?) ' +
      'ON CONFLICT (token, account) DO UPDATE SET bound_at = excluded.bound_at',
  );
  const bind = db.transaction((batch: Batch) => {
    if (batch.operator_type === 2) for (const { token } of batch.token_accounts) drop.run(token);
    const now = Date.now();
    for (const { token, account_list } of batch.token_accounts) {
      for (const { account } of account_list) upsert.run(token, account, now);
    }
  });
  return { tokensOf: (accounts) => accounts.map((a) => tokensOf.all(a) as string[]), bind };
}

function postgres(url: string): Backend {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const ready = (async () => {
    const { rows } = await pool.query("SELECT to_regclass('lean_bindings') AS t");
    if (rows[0].t === null) {
      await pool.query(TABLE);
      await pool.query(
        `INSERT INTO lean_bindings SELECT 't' || i, 'u' || (i >> 1), $2::bigint + i FROM generate_series(0, $1 - 1) AS i`,
        [SEED, BASE],
      );
      await pool.query(INDEX);
      await pool.query('VACUUM ANALYZE lean_bindings');
    }
  })();
  return {
    async tokensOf(accounts) {
      await ready;
      const { rows } = await pool.query<{ account: string; tokens: string[] }>(
        `SELECT a.account, coalesce((SELECT array_agg(token ORDER BY bound_at) FROM lean_bindings b
           WHERE b.account = a.account), '{}') AS tokens FROM unnest($1::text[]) AS a(account)`,
        [accounts],
      );
      return rows.map((r) => r.tokens);
    },
    async bind(batch) {
      const tokens: string[] = [];
      const accounts: string[] = [];
      for (const { token, account_list } of batch.token_accounts) {
        for (const { account } of account_list) {
          tokens.push(token);
          accounts.push(account);
        }
      }
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        if (batch.operator_type === 2) {
          await client.query('DELETE FROM lean_bindings WHERE token = ANY($1)', [
            batch.token_accounts.map((t) => t.token),
          ]);
        }
        await client.query(
          `INSERT INTO lean_bindings (token, account, bound_at)
             SELECT token, account, $3 FROM unnest($1::text[], $2::text[]) AS t(token, account)
             ON CONFLICT (token, account) DO UPDATE SET bound_at = excluded.bound_at`,
          [tokens, accounts, Date.now()],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

const backend = process.env.BENCH_POSTGRES ? postgres(process.env.BENCH_POSTGRES) : sqlite(process.env.BENCH_SQLITE!);
const auth = process.env.BENCH_AUTH!;
const app = Fastify({ logger: false });
app.addHook('onRequest', async (request, reply) => {
  if (request.headers.authorization !== auth) {
    return reply.code(401).send({ ret_code: 1008003, err_msg: 'auth failed' });
  }
});
const account = { type: 'object', required: ['account'], properties: { account: { type: 'string' } } };
app.post(
  '/v3/device/account/query',
  {
    schema: {
      body: {
        type: 'object',
        required: ['operator_type', 'account_list'],
        properties: {
          operator_type: { const: 1 },
          account_list: { type: 'array', minItems: 1, maxItems: 100, items: account },
        },
      },
    },
  },
  async (request) => {
    const { account_list } = request.body as { account_list: { account: string }[] };
    const accounts = account_list.map((a) => a.account);
    const tokens = await backend.tokensOf(accounts);
    return {
      ret_code: 0,
      err_msg: '',
      result: { account_tokens: accounts.map((a, i) => ({ account: a, token_list: tokens[i] })) },
    };
  },
);
app.post(
  '/v3/device/account/batchoperate',
  {
    schema: {
      body: {
        type: 'object',
        required: ['operator_type', 'token_accounts'],
        properties: {
          operator_type: { enum: [1, 2] },
          token_accounts: {
            type: 'array',
            minItems: 1,
            maxItems: 20,
            items: {
              type: 'object',
              required: ['token', 'account_list'],
              properties: {
                token: { type: 'string' },
                account_list: { type: 'array', minItems: 1, maxItems: 100, items: account },
              },
            },
          },
        },
      },
    },
  },
  async (request) => {
    await backend.bind(request.body as Batch);
    return { ret_code: 0, err_msg: '' };
  },
);
await backend.tokensOf(['u0']);
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.BINDERY_PORT ?? 0) });
process.stdout.write(`lean: listening on ${address}\n`);
