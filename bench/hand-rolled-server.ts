/**
 * What a team would write instead of bindery (issue 17): Fastify without a logger, Basic auth
 * compared to one constant, JSON schemas on the routes, the TPNS query (ops 1, 2) on the covering
 * indexes and batchoperate (ops 1, 2) as one transaction per request; no history, no caps, no
 * metrics, no idempotency, no events. Same database and schema as bindery's (app 1).
 * BENCH_SQLITE=<file> (better-sqlite3, WAL, synchronous=FULL) or BENCH_POSTGRES=<url> (pg, a pool of 10);
 * BENCH_AUTH=<Basic header>; BENCH_HISTORY=1 (PostgreSQL) also writes bindery's history rows. Prints its URL.
 */
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import pg from 'pg';

interface Account {
  account: string;
  account_type?: number;
}
interface Batch {
  operator_type: 1 | 2;
  token_accounts: { token: string; account_list: Account[] }[];
}
type AccountTokens = { account: string; account_type: number; token_list: string[] }[];
type TokenAccounts = { token: string; account_list: unknown[] }[];
/** SQLite answers at once (no promise on its path, as a team would write it); PostgreSQL with promises. */
interface Backend {
  accountTokens(list: Account[]): AccountTokens | Promise<AccountTokens>;
  tokenAccounts(list: string[]): TokenAccounts | Promise<TokenAccounts>;
  bind(batch: Batch): void | Promise<void>;
}

const HISTORY = process.env.BENCH_HISTORY === '1';
let clock = 0;
const nextBoundAt = () => {
  clock = Math.max(Date.now() * 1000, clock + 1);
  return clock;
};

function sqlite(path: string): Backend {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const tokensOf = db
    .prepare(
      'SELECT token FROM bindings INDEXED BY bindings_by_account WHERE app_id = 1 AND account = ? AND account_type = ? ' +
        'ORDER BY bound_at',
    )
    .pluck();
  const accountsOf = db.prepare(
    'SELECT account, account_type FROM bindings WHERE app_id = 1 AND token = ? ORDER BY bound_at',
  );
  const upsert = db.prepare(
    'INSERT INTO bindings (app_id, token, account, account_type, platform, bound_at) VALUES (1, ?, ?, ?, NULL, ?) ' +
      'ON CONFLICT (app_id, token, account, account_type) DO UPDATE SET bound_at = excluded.bound_at',
  );
  const dropOthers = db.prepare(
    'DELETE FROM bindings WHERE app_id = 1 AND token = ? AND NOT (account = ? AND account_type = ?)',
  );
  const bind = db.transaction((batch: Batch) => {
    for (const { token, account_list } of batch.token_accounts) {
      // op 2 with one account (what the bench sends): the others go first.
      if (batch.operator_type === 2 && account_list.length === 1)
        dropOthers.run(token, account_list[0]!.account, account_list[0]!.account_type ?? 0);
      for (const a of account_list) upsert.run(token, a.account, a.account_type ?? 0, nextBoundAt());
    }
  });
  return {
    accountTokens: (list) =>
      list.map((a) => ({
        account: a.account,
        account_type: a.account_type ?? 0,
        token_list: tokensOf.all(a.account, a.account_type ?? 0) as string[],
      })),
    tokenAccounts: (list) => list.map((token) => ({ token, account_list: accountsOf.all(token) })),
    bind,
  };
}

function postgres(url: string): Backend {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const tokensOf = async (account: string, accountType: number) =>
    (
      await pool.query<{ token: string }>(
        'SELECT token FROM bindings WHERE app_id = 1 AND account = $1 AND account_type = $2 ORDER BY bound_at',
        [account, accountType],
      )
    ).rows.map((r) => r.token);
  const accountsOf = async (token: string) =>
    (
      await pool.query('SELECT account, account_type FROM bindings WHERE app_id = 1 AND token = $1 ORDER BY bound_at', [
        token,
      ])
    ).rows;
  return {
    accountTokens: (list) =>
      Promise.all(
        list.map(async (a) => ({
          account: a.account,
          account_type: a.account_type ?? 0,
          token_list: await tokensOf(a.account, a.account_type ?? 0),
        })),
      ),
    tokenAccounts: (list) => Promise.all(list.map(async (token) => ({ token, account_list: await accountsOf(token) }))),
    bind: async (batch) => {
      const rows = batch.token_accounts.flatMap(({ token, account_list }) =>
        account_list.map((a) => [token, a.account, a.account_type ?? 0, nextBoundAt()] as const),
      );
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // op 2: the tokens' other accounts go first (the bench sends one account a token).
        if (batch.operator_type === 2)
          await client.query('DELETE FROM bindings WHERE app_id = 1 AND token = ANY($1)', [
            batch.token_accounts.map((t) => t.token),
          ]);
        await client.query(
          'INSERT INTO bindings (app_id, token, account, account_type, platform, bound_at) ' +
            'SELECT 1, t, a, y, NULL, b FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) AS r(t, a, y, b) ' +
            'ON CONFLICT (app_id, token, account, account_type) DO UPDATE SET bound_at = excluded.bound_at',
          [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3])],
        );
        // BENCH_HISTORY=1: the same history rows bindery keeps (one per binding written), to show what
        // that feature alone costs a hand-rolled service.
        if (HISTORY) {
          await client.query(
            'INSERT INTO history (app_id, at, operator_type, cause, token, account, account_type, platform) ' +
              "SELECT 1, $1, $2, 'bind', t, a, y, NULL FROM unnest($3::text[], $4::text[], $5::int[]) AS r(t, a, y)",
            [Date.now(), batch.operator_type, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

const backend = process.env.BENCH_POSTGRES ? postgres(process.env.BENCH_POSTGRES) : sqlite(process.env.BENCH_SQLITE!);
const AUTH = process.env.BENCH_AUTH ?? '';

const accountSchema = {
  type: 'object',
  required: ['account'],
  properties: { account: { type: 'string', maxLength: 100 }, account_type: { type: 'integer', minimum: 0 } },
};
const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.addHook('onRequest', async (request, reply) => {
  if (request.headers.authorization !== AUTH) return reply.code(401).send({ ret_code: 1008003, err_msg: 'auth' });
});

app.post(
  '/v3/device/account/query',
  {
    schema: {
      body: {
        type: 'object',
        required: ['operator_type'],
        properties: {
          operator_type: { type: 'integer', enum: [1, 2] },
          account_list: { type: 'array', maxItems: 100, items: accountSchema },
          token_list: { type: 'array', maxItems: 100, items: { type: 'string', maxLength: 64 } },
        },
      },
    },
  },
  async (request) => {
    const body = request.body as { operator_type: 1 | 2; account_list?: Account[]; token_list?: string[] };
    if (body.operator_type === 1) {
      const list = body.account_list ?? [];
      const found = backend.accountTokens(list);
      const accountTokens = found instanceof Promise ? await found : found;
      return { ret_code: 0, err_msg: 'ok', result: list.map(() => '0'), account_tokens: accountTokens };
    }
    const list = body.token_list ?? [];
    const found = backend.tokenAccounts(list);
    const tokenAccounts = found instanceof Promise ? await found : found;
    return { ret_code: 0, err_msg: 'ok', result: list.map(() => '0'), token_accounts: tokenAccounts };
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
          operator_type: { type: 'integer', enum: [1, 2] },
          token_accounts: {
            type: 'array',
            maxItems: 20,
            items: {
              type: 'object',
              required: ['token', 'account_list'],
              properties: {
                token: { type: 'string', maxLength: 64 },
                account_list: { type: 'array', minItems: 1, maxItems: 100, items: accountSchema },
              },
            },
          },
        },
      },
    },
  },
  async (request) => {
    const batch = request.body as Batch;
    const bound = backend.bind(batch);
    if (bound instanceof Promise) await bound;
    return { ret_code: 0, err_msg: 'ok', result: batch.token_accounts.map(() => '0') };
  },
);

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
