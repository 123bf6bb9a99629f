/**
 * The ceilings: a bare Fastify route that echoes its JSON body, nothing else. With BENCH_SQLITE=<db>
 * also `/query`: the same route plus the one SQLite look-up a query op 1 makes (no auth, checks,
 * metrics or logging), to show what Fastify and SQLite alone reach on this machine. Prints its URL.
 */
import Database from 'better-sqlite3';
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.post('/echo', async (request) => request.body);
if (process.env.BENCH_SQLITE) {
  const db = new Database(process.env.BENCH_SQLITE);
  db.pragma('journal_mode = WAL');
  const tokens = db
    .prepare(
      'SELECT token FROM bindings INDEXED BY bindings_by_account WHERE app_id = 1 AND account = ? AND account_type = 0 ORDER BY bound_at',
    )
    .pluck();
  app.post('/query', async (request) => {
    const account = (request.body as { account_list: { account: string }[] }).account_list[0]!.account;
    return {
      ret_code: 0,
      err_msg: 'ok',
      result: ['0'],
      account_tokens: [{ account, account_type: 0, token_list: tokens.all(account) }],
    };
  });
}
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
