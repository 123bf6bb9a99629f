/**
 * Where a query's time goes: the real app (buildApp: hooks, logging, metrics, request ids) with
 * three extra routes, each doing one more of the real steps of POST /v3/device/account/query and
 * answering a fixed body of the same shape. Comparing their throughput with the bare route and
 * the full query splits the gap between them. Reads BINDERY_DATABASE_URL; prints its URL.
 */
import { buildApp, loggerOptions } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { Metrics } from '../src/http/metrics.ts';
import { RateLimiter } from '../src/http/rate-limiter.ts';
import { rawBody, tenantOf } from '../src/http/tenant.ts';
import { parseJsonObject } from '../src/http/tpns/parse-body.ts';
import { openStore } from '../src/store/open-store.ts';

const config = loadConfig();
const store = await openStore(config);
const metrics = new Metrics(store);
const app = await buildApp(config, store, { logger: loggerOptions(config.logLevel), metrics });
const tenants = {
  store: metrics.instrument(store),
  limiter: new RateLimiter(),
  signMaxSkewSeconds: config.signMaxSkewSeconds,
  storeTimeoutMs: config.storeTimeoutMs,
};
const fixed = (tokens: string[]) => ({
  ret_code: 0,
  err_msg: 'ok',
  retCode: 0,
  errMsg: 'ok',
  result: ['0'],
  account_tokens: [{ account: 'u1', account_type: 0, token_list: tokens }],
});

// 1. The app's machinery only: routing, hooks, logging, metrics, request id, response serialization.
app.post('/steps/machinery', async () => fixed(['t2', 't3']));
// 2. + authentication (Basic, the app from its cache, the rate limiter) and the body parsed.
app.post('/steps/auth', async (request) => {
  await tenantOf(request, tenants);
  parseJsonObject(rawBody(request));
  return fixed(['t2', 't3']);
});
// 3. + the store look-up, through the timed store.
app.post('/steps/store', async (request) => {
  const tenant = await tenantOf(request, tenants);
  const body = parseJsonObject(rawBody(request)) as { account_list: { account: string }[] };
  const [tokens] = await tenants.store.tokensOfAccounts(tenant.id, [
    { account: body.account_list[0]!.account, accountType: 0 },
  ]);
  return fixed((tokens ?? []).map((t) => t.token));
});
// 4. The full query (validation, per-element results) is the real route, /v3/device/account/query.

const address = await app.listen({ host: '127.0.0.1', port: config.port });
process.stdout.write(`listening on ${address}\n`);
process.on(
  'SIGTERM',
  () =>
    void app
      .close()
      .then(() => store.close())
      .then(() => process.exit(0)),
);
