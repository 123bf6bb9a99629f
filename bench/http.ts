/**
 * HTTP load on a real server process: query op 1 and durable batchoperate op 2, with autocannon.
 * Usage: node --import tsx bench/http.ts [--bindings N] [--seconds S] [--connections C]
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { basicHeader, cli, startServer, stopServer } from '../test/support/server-process.ts';

const { values } = parseArgs({
  options: {
    bindings: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
  },
});
const bindings = Number(values.bindings);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

const dir = mkdtempSync(join(tmpdir(), 'bindery-bench-'));
const env = {
  BINDERY_DATABASE_URL: `sqlite:${join(dir, 'b.db')}`,
  BINDERY_BOOTSTRAP_APP: 'false',
};
const app = JSON.parse(cli(['app', 'create', '--name', 'bench', '--json'], env).stdout) as {
  access_id: string;
  secret_key: string;
};
const auth = basicHeader(app.access_id, app.secret_key);
const server = await startServer(env);
const headers = { authorization: auth, 'content-type': 'application/json' };

// Seed: account u<i> owns token t<i>, 20 per request.
const started = Date.now();
let next = 0;
const seedWorker = async () => {
  while (next < bindings) {
    const from = next;
    next += 20;
    const tokenAccounts = Array.from({ length: Math.min(20, bindings - from) }, (_, k) => ({
      token: `t${from + k}`,
      account_list: [{ account: `u${from + k}` }],
    }));
    const response = await fetch(`${server.url}/v3/device/account/batchoperate`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ operator_type: 1, token_accounts: tokenAccounts }),
    });
    await response.arrayBuffer();
  }
};
await Promise.all(Array.from({ length: 16 }, seedWorker));
process.stderr.write(`seeded ${bindings} bindings in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

async function run(title: string, path: string, body: () => string) {
  const result = await autocannon({
    url: server.url + path,
    connections,
    duration: seconds,
    requests: [{ method: 'POST', headers, setupRequest: (req) => ({ ...req, body: body() }) }],
  });
  const non2xx = result.non2xx + result.errors;
  console.log(
    `${title.padEnd(44)} ${Math.round(result.requests.average).toString().padStart(7)} req/s  p50 ` +
      `${result.latency.p50} ms  p99 ${result.latency.p99} ms  errors ${non2xx}`,
  );
}

const random = () => Math.floor(Math.random() * bindings);
await run('query op 1 (1 random existing account)', '/v3/device/account/query', () =>
  JSON.stringify({ operator_type: 1, account_list: [{ account: `u${random()}` }] }),
);
await run('batchoperate op 2 (20 tokens x 1 account)', '/v3/device/account/batchoperate', () =>
  JSON.stringify({
    operator_type: 2,
    token_accounts: Array.from({ length: 20 }, () => {
      const i = random();
      return { token: `t${i}`, account_list: [{ account: `u${i}` }] };
    }),
  }),
);
await stopServer(server);
rmSync(dir, { recursive: true, force: true });
