/**
 * Two bindery processes through PgBouncer in transaction mode, sharing 2 server connections among
 * their 16 pool connections: every statement of a client may run on another server connection, so
 * anything kept in a session (named prepared statements, SET, session advisory locks, LISTEN)
 * would fail or leak. Under concurrent writes, reads, imports and exports, nothing may.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_POLICY } from '../../../src/model/types.ts';
import { PostgresStore } from '../../../src/store/postgres/postgres-store.ts';
import { TestPgBouncer } from '../../support/pgbouncer.ts';
import { TestPostgres } from '../../support/postgres-server.ts';
import { basicHeader, type ServerProcess, startServer, stopServer } from '../../support/server-process.ts';

const SECRET = 'p'.repeat(32);
const ACCESS_ID = '1700000001';

describe('through PgBouncer (transaction mode)', () => {
  let postgres: TestPostgres;
  let bouncer: TestPgBouncer;
  let url: string;
  const servers: ServerProcess[] = [];

  before(async () => {
    postgres = await TestPostgres.start();
    bouncer = await TestPgBouncer.start(postgres, { serverConnections: 2 });
    url = bouncer.url(await postgres.createDatabase());
  });
  after(async () => {
    for (const server of servers) await stopServer(server);
    await bouncer?.stop();
    await postgres?.destroy();
  });

  it('migrates, writes, reads, imports and exports under load with no session-state failure', async () => {
    // Migrations (under an advisory transaction lock) and app creation go through the pooler too.
    const admin = await PostgresStore.open(url, { timeoutMs: 5000, poolSize: 2 });
    // A cap above what one account is bound here: nothing is evicted.
    const policy = { ...DEFAULT_POLICY, maxTokensPerAccount: 10_000 };
    await admin.createApp({ accessId: ACCESS_ID, name: 'pooled', secretKey: SECRET, policy });
    const env = {
      BINDERY_DATABASE_URL: url,
      BINDERY_PG_POOL_SIZE: '8',
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_STORE_TIMEOUT_MS: '5000',
      BINDERY_LOG_LEVEL: 'warn',
      // Four clients of the one app export at once on each instance.
      BINDERY_EXPORT_PER_APP: '4',
    };
    servers.push(await startServer(env), await startServer(env));
    const auth = { authorization: basicHeader(ACCESS_ID, SECRET), 'content-type': 'application/json' };
    const acknowledged = new Set<string>();
    const failures: string[] = [];
    const call = async (server: ServerProcess, path: string, body: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(body),
      });
      const answer = (await response.json()) as { ret_code: number; err_msg: string };
      if (response.status !== 200 || answer.ret_code !== 0)
        failures.push(`${path} ${response.status} ${answer.err_msg}`);
      return answer;
    };
    const until = Date.now() + 3000;
    let requests = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, client) => {
        const server = servers[client % 2]!;
        for (let i = 0; Date.now() < until; i++) {
          const token = `c${client}-t${i}`;
          const bind = { operator_type: 1, token_accounts: [{ token, account_list: [{ account: `user${client}` }] }] };
          if ((await call(server, '/v3/device/account/batchoperate', bind)).ret_code === 0) acknowledged.add(token);
          await call(server, '/v3/device/account/query', {
            operator_type: 1,
            account_list: [{ account: `user${client}` }],
          });
          requests += 2;
          if (i % 10 === 0) {
            const lines = Array.from({ length: 50 }, (_, k) => `{"token":"${token}-i${k}","account":"imp${client}"}`);
            const imported = await fetch(`${server.url}/api/v1/import`, {
              method: 'POST',
              headers: { ...auth, 'content-type': 'application/x-ndjson' },
              body: lines.join('\n'),
            });
            if (imported.status === 200) for (let k = 0; k < 50; k++) acknowledged.add(`${token}-i${k}`);
            else failures.push(`import ${imported.status} ${await imported.text()}`);
            const exported = await fetch(`${server.url}/api/v1/export`, { headers: auth });
            if (exported.status !== 200) failures.push(`export ${exported.status}`);
            await exported.text();
            requests += 2;
          }
        }
      }),
    );
    assert.deepEqual(failures, [], 'every request answered 200 with ret_code 0');
    assert.ok(requests > 100, `${requests} requests`);
    for (const server of servers) {
      assert.equal(server.child.exitCode, null, 'the process is alive');
      assert.doesNotMatch(server.output(), /prepared statement|unsupported|SET|advisory/i);
    }
    assert.doesNotMatch(bouncer.output(), /ERROR|unsupported startup parameter/i);
    const [app] = await admin.listApps();
    const stored = new Set<string>();
    for await (const page of admin.exportBindings(app!.id, 1000)) for (const b of page) stored.add(b.token);
    const lost = [...acknowledged].filter((token) => !stored.has(token));
    assert.deepEqual(lost, [], `all ${acknowledged.size} acknowledged bindings are stored`);
    await admin.close();
  });
});
