/**
 * Model-based concurrency with fast-check: rounds of concurrent requests from several clients
 * (ops 1..5 and queries) and cap changes between rounds, checked against the reference model
 * replayed in revision order. A failure prints a seed and path; replay it with
 * BINDERY_FC_SEED=<seed> BINDERY_FC_PATH=<path>.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import { Sweeper } from '../../src/background/sweeper.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { BindingModel, type ModelRequest } from '../support/binding-model.ts';
import { BATCH, basic, QUERY, serverOn, type TestServer, tempDir, testServer } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { size } from '../support/soak.ts';

const TOKENS = ['tA', 'tB', 'tC', 'tD', 'tE'];
const silent = { info() {}, warn() {}, error() {} } as unknown as ConstructorParameters<typeof Sweeper>[2];
const ACCOUNTS = [{ account: 'ann' }, { account: 'bob' }, { account: 'cat' }, { account: 'ann', account_type: 3 }];

const token = fc.constantFrom(...TOKENS);
const account = fc.constantFrom(...ACCOUNTS);
const request: fc.Arbitrary<ModelRequest> = fc.oneof(
  fc.record({
    operator_type: fc.constantFrom(1 as const, 2 as const, 3 as const),
    token_accounts: fc.array(fc.record({ token, account_list: fc.array(account, { minLength: 1, maxLength: 3 }) }), {
      minLength: 1,
      maxLength: 3,
    }),
  }),
  fc.record({ operator_type: fc.constant(4 as const), token_list: fc.array(token, { minLength: 1, maxLength: 2 }) }),
  fc.record({
    operator_type: fc.constant(5 as const),
    account_list: fc.array(account, { minLength: 1, maxLength: 2 }),
  }),
);
/** The token lifecycle's writes, beside batchoperate. */
type LifecycleRequest =
  | { kind: 'feedback'; tokens: string[] }
  | { kind: 'seen'; tokens: string[] }
  | { kind: 'restore'; token: string };
type AnyRequest = ModelRequest | LifecycleRequest | 'query';
const lifecycle: fc.Arbitrary<LifecycleRequest> = fc.oneof(
  fc.record({ kind: fc.constant('feedback' as const), tokens: fc.array(token, { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('seen' as const), tokens: fc.array(token, { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('restore' as const), token }),
);
const step = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('round' as const),
      requests: fc.array(
        fc.oneof(
          { weight: 4, arbitrary: request as fc.Arbitrary<AnyRequest> },
          { weight: 2, arbitrary: lifecycle as fc.Arbitrary<AnyRequest> },
          { weight: 1, arbitrary: fc.constant<AnyRequest>('query') },
        ),
        { minLength: 1, maxLength: 5 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('caps' as const),
      maxTokensPerAccount: fc.integer({ min: 1, max: 4 }),
      maxAccountsPerToken: fc.integer({ min: 1, max: 3 }),
      bindingRules: fc.constantFrom('append' as const, 'tpns' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const) }) },
);

/** A request as the HTTP call that makes it. */
function call(r: AnyRequest): { url: string; payload?: string } {
  if (r === 'query') return { url: QUERY, payload: JSON.stringify({ operator_type: 2, token_list: TOKENS }) };
  if (!('kind' in r)) return { url: BATCH, payload: JSON.stringify(r) };
  if (r.kind === 'restore') return { url: `/api/v1/tokens/${r.token}/restore` };
  if (r.kind === 'seen') return { url: '/api/v1/tokens/seen', payload: JSON.stringify({ tokens: r.tokens }) };
  // Answered "later" than any bind of the run: never stale, whatever the order.
  const at = Date.now() + 4 * 60_000;
  const items = r.tokens.map((t) => ({ token: t, provider: 'fcm', reason: 'UNREGISTERED', at }));
  return { url: '/api/v1/feedback', payload: JSON.stringify({ items }) };
}

/** What the model answers for a write: the result codes, or (restore) the status. */
function expected(model: BindingModel, r: Exclude<AnyRequest, 'query'>): unknown {
  if (!('kind' in r)) return model.apply(r);
  if (r.kind === 'feedback') return model.feedback(r.tokens);
  if (r.kind === 'seen') return model.seen(r.tokens);
  return model.restore(r.token);
}

/** A fresh server with one app, on the store under test; what it opens is closed through `ctx.after`. */
type Open = (ctx: TestContext) => Promise<TestServer>;

/**
 * Runs the property on servers `open` makes; answers how many rounds had several writes, and in how
 * many of them some writes shared a transaction (SQLite's writer counts them; elsewhere undefined).
 */
async function agreesWithTheModel(open: Open, runs: number): Promise<{ withWrites: number; shared?: number }> {
  let roundsWithWrites = 0;
  let roundsSharingATransaction: number | undefined;
  const seed = process.env.BINDERY_FC_SEED ? Number(process.env.BINDERY_FC_SEED) : undefined;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: size(12, 40) }), async (steps) => {
      const ctx = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;
      const cleanups: (() => unknown)[] = [];
      try {
        const server = await open(ctx);
        const store = server.store;
        const writeStats = () => (store as Partial<SqliteStore>).writeStats;
        const auth = basic(server.tenant);
        const model = new BindingModel({ maxTokensPerAccount: 100, maxAccountsPerToken: 10 });
        const sweeper = new Sweeper(store, { intervalMs: 60_000, retentionDays: 365 }, silent);
        for (const s of steps) {
          if (s.kind === 'purge') {
            await sweeper.sweepLifecycle(Date.now() + 31 * 86_400_000);
            model.purge();
            continue;
          }
          if (s.kind === 'caps') {
            const { maxTokensPerAccount, maxAccountsPerToken, bindingRules } = s;
            await server.service.setPolicy(server.tenant.accessId, {
              maxTokensPerAccount,
              maxAccountsPerToken,
              bindingRules,
            });
            model.policy = { maxTokensPerAccount, maxAccountsPerToken, bindingRules };
            continue;
          }
          const stats = writeStats() && { ...writeStats()! };
          const answers = await Promise.all(
            s.requests.map(async (r) => {
              const response = await server.app.inject({ method: 'POST', headers: auth, ...call(r) });
              const restore = typeof r === 'object' && 'kind' in r && r.kind === 'restore';
              if (!restore) assert.equal(response.statusCode, 200, response.body);
              return {
                request: r,
                status: response.statusCode,
                revision: Number(response.headers['x-bindery-revision']),
                body: response.json() as { result: string[]; token_accounts?: { account_list: unknown[] }[] },
              };
            }),
          );
          if (s.requests.filter((r) => r !== 'query').length >= 2) {
            roundsWithWrites++;
            // More batches than transactions: some of this round's batches committed together.
            const after = writeStats();
            if (stats && after) {
              roundsSharingATransaction ??= 0;
              if (after.commands - stats.commands > after.groups - stats.groups) roundsSharingATransaction++;
            }
          }
          const snapshot = () => JSON.stringify(TOKENS.map((t) => ({ token: t, account_list: model.accountsOf(t) })));
          // Every state the app went through in this round, in revision order: a concurrent query must see one of
          // them.
          const states = [snapshot()];
          const writes = answers.filter((a) => a.request !== 'query').sort((x, y) => x.revision - y.revision);
          for (const w of writes) {
            assert.ok(
              Number.isInteger(w.revision),
              `every write answer says its revision: ${JSON.stringify(w.request)}`,
            );
            const request = w.request as Exclude<AnyRequest, 'query'>;
            const answered = 'kind' in request && request.kind === 'restore' ? w.status : w.body.result;
            assert.deepEqual(answered, expected(model, request), `revision ${w.revision}: ${JSON.stringify(request)}`);
            states.push(snapshot());
          }
          for (const a of answers) {
            if (a.request === 'query')
              assert.ok(
                states.includes(JSON.stringify(a.body.token_accounts)),
                'a concurrent query saw a state the app really was in',
              );
          }
          const state = await server.app.inject({
            method: 'POST',
            url: QUERY,
            headers: auth,
            payload: JSON.stringify({ operator_type: 2, token_list: TOKENS }),
          });
          assert.deepEqual(
            state.json().token_accounts,
            TOKENS.map((t) => ({ token: t, account_list: model.accountsOf(t) })),
            'state after the round',
          );
          const byAccount = await server.app.inject({
            method: 'POST',
            url: QUERY,
            headers: auth,
            payload: JSON.stringify({ operator_type: 1, account_list: ACCOUNTS }),
          });
          assert.deepEqual(
            (byAccount.json().account_tokens as { token_list: string[] }[]).map((e) => e.token_list),
            ACCOUNTS.map((a) => model.tokensOf(a.account, a.account_type ?? 0)),
            'tokens of every account, oldest first',
          );
        }
      } finally {
        for (const cleanup of cleanups.reverse()) await cleanup();
      }
    }),
    {
      numRuns: runs,
      ...(seed !== undefined ? { seed, path: process.env.BINDERY_FC_PATH } : {}),
      verbose: 1,
    },
  );
  return {
    withWrites: roundsWithWrites,
    ...(roundsSharingATransaction !== undefined ? { shared: roundsSharingATransaction } : {}),
  };
}

describe('model-based concurrency (fast-check)', () => {
  it('SQLite: concurrent clients, lifecycle writes, caps and binding rules changing agree with the model', async () => {
    const { withWrites, shared = 0 } = await agreesWithTheModel((ctx) => testServer(ctx), size(30, 400));
    // The rounds really ran side by side: in some, several batches were in one group commit.
    assert.ok(withWrites > 0 && shared > 0, `${shared} of ${withWrites}`);
  });

  describe('PostgreSQL', () => {
    let postgres: TestPostgres;
    before(async () => {
      postgres = await TestPostgres.start();
    });
    after(() => postgres?.stop());

    it('the same property, on a PostgreSQL store', async () => {
      const open: Open = async (ctx) => {
        const store = await PostgresStore.open(await postgres.createDatabase(), { timeoutMs: 5000, poolSize: 4 });
        ctx.after(() => store.close());
        return serverOn(ctx, store, { spoolDir: tempDir(ctx) });
      };
      const { withWrites } = await agreesWithTheModel(open, size(15, 100));
      assert.ok(withWrites > 0);
    });
  });
});
