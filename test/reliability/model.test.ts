/**
 * Model-based concurrency with fast-check: rounds of concurrent requests from several clients
 * (ops 1..5 and queries) and cap changes between rounds, checked against the reference model
 * replayed in revision order. A failure prints a seed and path; replay it with
 * BINDERY_FC_SEED=<seed> BINDERY_FC_PATH=<path>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { BindingModel, type ModelRequest } from '../support/binding-model.ts';
import { BATCH, basic, QUERY, testServer } from '../support/helpers.ts';
import { size } from '../support/soak.ts';

const TOKENS = ['tA', 'tB', 'tC', 'tD', 'tE'];
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
const step = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('round' as const),
      requests: fc.array(
        fc.oneof({ weight: 4, arbitrary: request }, { weight: 1, arbitrary: fc.constant('query' as const) }),
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
);

describe('model-based concurrency (fast-check)', () => {
  it('concurrent clients, caps and binding rules changing, always agree with the reference model', async () => {
    let roundsWithWrites = 0;
    let roundsSharingATransaction = 0;
    const seed = process.env.BINDERY_FC_SEED ? Number(process.env.BINDERY_FC_SEED) : undefined;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: size(12, 40) }), async (steps) => {
        const ctx = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as Parameters<typeof testServer>[0];
        const cleanups: (() => unknown)[] = [];
        try {
          const server = await testServer(ctx);
          const store = server.store as SqliteStore;
          const auth = basic(server.tenant);
          const model = new BindingModel({ maxTokensPerAccount: 100, maxAccountsPerToken: 10 });
          for (const s of steps) {
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
            const stats = { ...store.writeStats };
            const answers = await Promise.all(
              s.requests.map(async (r) => {
                const response = await server.app.inject({
                  method: 'POST',
                  url: r === 'query' ? QUERY : BATCH,
                  headers: auth,
                  payload: JSON.stringify(r === 'query' ? { operator_type: 2, token_list: TOKENS } : r),
                });
                assert.equal(response.statusCode, 200, response.body);
                return {
                  request: r,
                  revision: Number(response.headers['x-bindery-revision']),
                  body: response.json() as { result: string[]; token_accounts?: { account_list: unknown[] }[] },
                };
              }),
            );
            if (s.requests.filter((r) => r !== 'query').length >= 2) {
              roundsWithWrites++;
              // More batches than transactions: some of this round's batches committed together.
              const groups = store.writeStats.groups - stats.groups;
              if (store.writeStats.commands - stats.commands > groups) roundsSharingATransaction++;
            }
            const snapshot = () => JSON.stringify(TOKENS.map((t) => ({ token: t, account_list: model.accountsOf(t) })));
            // Every state the app went through in this round, in revision order: a concurrent query must see one of
            // them.
            const states = [snapshot()];
            const writes = answers.filter((a) => a.request !== 'query').sort((x, y) => x.revision - y.revision);
            for (const w of writes) {
              assert.deepEqual(
                w.body.result,
                model.apply(w.request as ModelRequest),
                `revision ${w.revision}: ${JSON.stringify(w.request)}`,
              );
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
              ACCOUNTS.map((a) =>
                model.rows
                  .filter((r) => r.account === a.account && r.type === (a.account_type ?? 0))
                  .sort((x, y) => x.t - y.t)
                  .map((r) => r.token),
              ),
              'tokens of every account, oldest first',
            );
          }
        } finally {
          for (const cleanup of cleanups.reverse()) await cleanup();
        }
      }),
      {
        numRuns: size(30, 400),
        ...(seed !== undefined ? { seed, path: process.env.BINDERY_FC_PATH } : {}),
        verbose: 1,
      },
    );
    // The rounds really ran side by side: in some, several batches were in one group commit.
    assert.ok(
      roundsWithWrites > 0 && roundsSharingATransaction > 0,
      `${roundsSharingATransaction} of ${roundsWithWrites}`,
    );
  });
});
