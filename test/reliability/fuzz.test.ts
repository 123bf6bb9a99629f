/**
 * Fuzzing the HTTP edge with fast-check: arbitrary bodies, headers, encodings, huge and deeply
 * nested inputs and wrong types. Never a 5xx for client input, never a crash, every answer carries
 * a TPNS code that fits its status, and a refused request leaves the stored data unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allBindings, basic, testServer } from '../support/helpers.ts';
import { size } from '../support/soak.ts';

const CODES = new Set([0, 1008001, 1008002, 1008003, 1008006, 1008007, 1008026, 1008027, 1008028]);
const PATHS = [
  '/v3/device/account/batchoperate',
  '/v3/device/account/query',
  '/api/v1/import',
  '/api/v1/feedback',
  '/api/v1/tokens/seen',
];

const token = fc.oneof(
  fc.constantFrom('t1', 't2', 't3'),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 70 }),
  fc.constant('x'.repeat(5000)),
  fc.anything(),
);
const account = fc.oneof(
  fc.record(
    {
      account: fc.oneof(fc.constantFrom('alice', 'bob'), fc.string({ maxLength: 120 }), fc.anything()),
      account_type: fc.oneof(fc.integer(), fc.double(), fc.anything()),
    },
    { requiredKeys: [] },
  ),
  fc.anything(),
);
const nearlyValid = fc
  .record(
    {
      operator_type: fc.oneof(fc.integer({ min: -1, max: 7 }), fc.anything()),
      platform: fc.oneof(fc.constantFrom('android', 'IOS', 'web'), fc.anything()),
      token_accounts: fc.oneof(
        fc.array(
          fc.record(
            { token, account_list: fc.oneof(fc.array(account, { maxLength: 4 }), fc.anything()) },
            { requiredKeys: [] },
          ),
          { maxLength: 25 },
        ),
        fc.anything(),
      ),
      token_list: fc.oneof(fc.array(token, { maxLength: 105 }), fc.anything()),
      account_list: fc.oneof(fc.array(account, { maxLength: 105 }), fc.anything()),
      op_type: fc.anything(),
    },
    { requiredKeys: [] },
  )
  .map((v) => JSON.stringify(v));
/** The token lifecycle's bodies, nearly right: providers, reasons, statuses and times of every kind. */
const nearlyLifecycle = fc
  .record(
    {
      items: fc.oneof(
        fc.array(
          fc.record(
            {
              token,
              provider: fc.oneof(
                fc.constantFrom('apns', 'fcm', 'hms', 'expo', 'webpush', 'APNS', 'gcm'),
                fc.anything(),
              ),
              reason: fc.oneof(
                fc.constantFrom('Unregistered', 'UNREGISTERED', '80300007', 'DeviceNotRegistered', 'BadTopic'),
                fc.string({ maxLength: 120 }),
                fc.anything(),
              ),
              status: fc.oneof(fc.constantFrom(404, 410, 429, 500), fc.integer(), fc.double(), fc.anything()),
              at: fc.oneof(
                fc.integer(),
                fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString())),
                fc.anything(),
              ),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 30 },
        ),
        fc.anything(),
      ),
      tokens: fc.oneof(fc.array(token, { maxLength: 30 }), fc.anything()),
    },
    { requiredKeys: [] },
  )
  .map((v) => JSON.stringify(v));
const nested = fc
  .integer({ min: 1, max: 200_000 })
  .map((depth) => `{"operator_type":1,"token_accounts":${'['.repeat(depth)}${']'.repeat(depth)}}`);
const body = fc.oneof(
  { weight: 6, arbitrary: nearlyValid },
  { weight: 3, arbitrary: nearlyLifecycle },
  { weight: 2, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: nested },
);
const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'text/plain',
    "application/json;charset='utf-8'",
    'application/x-ndjson',
    'multipart/form-data; boundary=x',
    'garbage/!!',
    'application/json; charset=latin1',
  ),
  { nil: undefined },
);

describe('fuzzing the HTTP edge (fast-check)', () => {
  it(
    `answers every arbitrary request with a TPNS code, no 5xx, and changes nothing when it refuses ` +
      `(${size(1500, 100_000)} cases)`,
    async (t) => {
      const server = await testServer(t);
      const auth = basic(server.tenant);
      const snapshot = async () => JSON.stringify(await allBindings(server.store, server.tenant.id));
      let cases = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...PATHS),
          body,
          contentType,
          fc.boolean(),
          async (path, payload, type, authenticated) => {
            cases++;
            const before = await snapshot();
            const headers: Record<string, string> = {
              ...(authenticated ? auth : { authorization: 'Basic Zm9vOmJhcg==' }),
              ...(type ? { 'content-type': type } : {}),
            };
            const response = await server.app.inject({ method: 'POST', url: path, payload, headers });
            assert.ok(response.statusCode < 500, `HTTP ${response.statusCode}: ${response.body.slice(0, 300)}`);
            const answer = response.json() as { ret_code: number; retCode: number; err_msg: string };
            assert.ok(CODES.has(answer.ret_code), `ret_code ${answer.ret_code}`);
            assert.equal(answer.retCode, answer.ret_code);
            assert.ok(answer.err_msg.length > 0);
            if (response.statusCode !== 200) {
              assert.notEqual(answer.ret_code, 0);
              assert.equal(await snapshot(), before, 'a refused request changed stored data');
            }
            if (!authenticated) assert.equal(answer.ret_code, 1008003);
          },
        ),
        { numRuns: size(1500, 100_000) },
      );
      t.diagnostic(`${cases} cases`);
      assert.equal((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive');
    },
  );
});
