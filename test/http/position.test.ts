/**
 * Write positions on the wire: a write answer carries x-bindery-lsn, a read sends it back, the SDK
 * does so by itself, and a malformed one is refused. On a real PostgreSQL primary and replica.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { BinderyClient } from '../../src/client/index.ts';
import { AppService } from '../../src/domain/app-service.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { BATCH, basic, post, QUERY, statusOf, testConfig, testServer } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';

describe('x-bindery-lsn', () => {
  let primary: TestPostgres;
  let replica: TestPostgres;
  let url: string;
  let readUrl: string;

  before(async () => {
    primary = await TestPostgres.start();
    replica = await primary.startReplica();
    url = await primary.createDatabase();
    readUrl = replica.url(new URL(url).pathname.slice(1));
  });
  after(async () => {
    await replica?.destroy();
    await primary?.destroy();
  });

  async function server(t: Parameters<typeof testServer>[0]) {
    const store = await PostgresStore.open(url, { timeoutMs: 2000, poolSize: 4, readUrls: [readUrl] });
    const config = testConfig({ databaseUrl: url, databaseReadUrls: [readUrl] });
    const app = await buildApp(config, store);
    t.after(async () => {
      await app.close();
      await store.close();
    });
    const tenant = await new AppService(store, config.secretGraceSeconds).create({ name: 'positions' });
    return { app, store, tenant };
  }

  it('a write answer carries its position; a read takes it back, and refuses one that is not', async (t) => {
    const { app, tenant } = await server(t);
    const bind = { operator_type: 1, token_accounts: [{ token: 't1', account_list: [{ account: 'alice' }] }] };
    const written = await app.inject({
      method: 'POST',
      url: BATCH,
      payload: JSON.stringify(bind),
      headers: basic(tenant),
    });
    const position = String(written.headers['x-bindery-lsn']);
    assert.match(position, /^[0-9A-F]+\/[0-9A-F]+$/);
    const read = await post(
      { app },
      QUERY,
      { operator_type: 2, token_list: ['t1'] },
      {
        ...basic(tenant),
        'x-bindery-lsn': position,
      },
    );
    assert.deepEqual(read.body.token_accounts, [
      { token: 't1', account_list: [{ account: 'alice', account_type: 0 }] },
    ]);
    const imported = await app.inject({
      method: 'POST',
      url: '/api/v1/import',
      payload: '{"token":"t2","account":"bob"}\n',
      headers: { ...basic(tenant), 'content-type': 'application/x-ndjson' },
    });
    assert.equal(imported.statusCode, 200);
    assert.match(String(imported.headers['x-bindery-lsn']), /^[0-9A-F]+\/[0-9A-F]+$/);
    const refused = await post(
      { app },
      QUERY,
      { operator_type: 2, token_list: ['t1'] },
      {
        ...basic(tenant),
        'x-bindery-lsn': 'yesterday',
      },
    );
    assert.equal(refused.status, 400);
    assert.deepEqual(
      refused.body,
      statusOf(
        1008007,
        'x-bindery-lsn header: must be a write position as a write answer gave it (like 0/16B3748), got "yesterday"',
      ),
    );
    const api = await app.inject({
      method: 'GET',
      url: '/api/v1/accounts/bob/tokens',
      headers: { ...basic(tenant), 'x-bindery-lsn': String(imported.headers['x-bindery-lsn']) },
    });
    assert.deepEqual(
      (api.json() as { tokens: { token: string }[] }).tokens.map((x) => x.token),
      ['t2'],
    );
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /bindery_replica_lag_seconds\{replica="replica1"\} \d/);
    assert.match(metrics, /bindery_replica_usable\{replica="replica1"\} 1/);
    const served = (target: string) =>
      Number(new RegExp(`bindery_reads_total\\{target="${target}"\\} (\\d+)`).exec(metrics)?.[1] ?? -1);
    assert.equal(served('primary') + served('replica'), 2, 'the two reads of bindings, by where they went');
    assert.match(metrics, /bindery_read_fallbacks_total\{reason="waited"\} \d/);
  });

  it('a position past anything written is answered at once by the primary (PostgreSQL) and the store (SQLite)', async (t) => {
    const bind = { operator_type: 1, token_accounts: [{ token: 'far', account_list: [{ account: 'alice' }] }] };
    const beyond = { 'x-bindery-lsn': 'FFFFFFFF/FFFFFFFF' };
    const onPostgres = await server(t);
    const sqlite = await testServer(t);
    for (const { app, tenant } of [onPostgres, sqlite]) {
      await post({ app }, BATCH, bind, basic(tenant));
      const read = await post(
        { app },
        QUERY,
        { operator_type: 2, token_list: ['far'] },
        { ...basic(tenant), ...beyond },
      );
      assert.equal(read.status, 200);
      assert.deepEqual(read.body.token_accounts, [
        { token: 'far', account_list: [{ account: 'alice', account_type: 0 }] },
      ]);
    }
    const metrics = (await onPostgres.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /bindery_read_fallbacks_total\{reason="beyond"\} 1\n/);
    assert.match(metrics, /bindery_read_fallbacks_total\{reason="waited"\} 0\n/);
  });

  it('the SDK sends back the furthest position it was answered, so its reads show its writes', async (t) => {
    const { app, tenant } = await server(t);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const sent: (string | null)[] = [];
    const answered: (string | null)[] = [];
    const recording: typeof fetch = async (input, init) => {
      sent.push(new Headers(init?.headers).get('x-bindery-lsn'));
      const response = await fetch(input, init);
      answered.push(response.headers.get('x-bindery-lsn'));
      return response;
    };
    const client = new BinderyClient({
      baseUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      accessId: tenant.accessId,
      secretKey: tenant.secretKey,
      fetch: recording,
    });
    for (let i = 0; i < 20; i++) {
      await client.login(`device-${i}`, 'carol');
      assert.ok((await client.devicesOf('carol')).includes(`device-${i}`), `read ${i} shows write ${i}`);
    }
    assert.equal(sent[0], null, 'nothing to send before the first write');
    assert.equal(sent[1], answered[0], 'the read sends the position the write was answered');
    assert.ok(sent.slice(1).every((p) => p !== null));
  });

  it('SQLite has one database to read: no position on the answer', async (t) => {
    const server = await testServer(t);
    const bind = { operator_type: 1, token_accounts: [{ token: 't1', account_list: [{ account: 'alice' }] }] };
    const written = await server.app.inject({
      method: 'POST',
      url: BATCH,
      payload: JSON.stringify(bind),
      headers: basic(server.tenant),
    });
    assert.equal(written.statusCode, 200);
    assert.equal(written.headers['x-bindery-lsn'], undefined);
  });
});
