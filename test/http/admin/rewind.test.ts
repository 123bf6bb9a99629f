/** POST /admin/v1/apps/{accessId}/rewind and `bindery app rewind`: the edges of a rewind (issue 34). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { writeBatch } from '../../../src/domain/run-batch.ts';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.ts';
import {
  BATCH,
  basic,
  bindTo,
  serverOn,
  sqliteStore,
  sqliteStoreWithApp,
  type TestServer,
  testServer,
} from '../../support/helpers.ts';
import { cli } from '../../support/server-process.ts';

const TOKEN = 'test-admin-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(server: TestServer, url: string, body: unknown) {
  const response = await server.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

async function batch(server: TestServer, body: unknown) {
  const response = await server.app.inject({
    method: 'POST',
    url: BATCH,
    headers: basic(server.tenant),
    payload: JSON.stringify(body),
  });
  assert.equal(response.json().ret_code, 0, response.body);
}

async function accountsOf(server: TestServer, token: string): Promise<string[]> {
  const [accounts] = await server.store.accountsOfTokens(server.tenant.id, [token]);
  return (accounts ?? []).map((a) => a.account);
}

describe('rewind through the admin API', () => {
  it('a dry run counts and changes nothing; the rewind undoes a mass unbind, with history and webhook events', async (t) => {
    const { store, path } = await sqliteStore(t);
    const server = await serverOn(t, store, { adminToken: TOKEN });
    await server.service.update(server.tenant.accessId, { webhookUrl: 'https://hooks.example.com/bindery' });
    const url = `/admin/v1/apps/${server.tenant.accessId}/rewind`;
    const tokens = Array.from({ length: 20 }, (_, i) => `tok${i}`);
    await batch(server, {
      operator_type: 1,
      token_accounts: tokens.map((token) => ({ token, account_list: [{ account: `user-${token}` }] })),
    });
    await sleep(5);
    const moment = new Date().toISOString();
    await sleep(5);
    // The client's bug: every token unbound.
    await batch(server, { operator_type: 4, token_list: tokens });
    assert.deepEqual(await accountsOf(server, 'tok7'), []);

    const dry = await post(server, url, { to: moment, dry_run: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.deepEqual(
      { bind: dry.body.bind, unbind: dry.body.unbind, dry_run: dry.body.dry_run, revision: dry.body.revision },
      { bind: 20, unbind: 0, dry_run: true, revision: 0 },
    );
    assert.deepEqual(await accountsOf(server, 'tok7'), [], 'a dry run changes nothing');

    const done = await post(server, url, { to: moment });
    assert.equal(done.status, 200);
    assert.equal(done.body.to, moment);
    assert.deepEqual([done.body.bind, done.body.unbind, done.body.dry_run], [20, 0, false]);
    assert.deepEqual(await accountsOf(server, 'tok7'), ['user-tok7']);
    const history = await server.store.history(server.tenant.id, { token: 'tok7' }, 10);
    assert.equal(history[0]?.cause, 'rewind');
    const outbox = new Database(path, { readonly: true });
    t.after(() => outbox.close());
    const events = outbox.prepare("SELECT payload FROM webhook_outbox WHERE type = 'binding.created'").pluck().all();
    const rewound = (events as string[]).filter((p) => JSON.parse(p).cause === 'rewind');
    assert.equal(rewound.length, 20, 'each binding brought back is an event with cause rewind');
  });

  it('answers what is wrong: a bad or future time 400/1008007, an unknown app 404, a history that cannot answer 409', async (t) => {
    const server = await testServer(t, { adminToken: TOKEN });
    const url = `/admin/v1/apps/${server.tenant.accessId}/rewind`;
    const bad = await post(server, url, { to: 'yesterday' });
    assert.deepEqual([bad.status, bad.body.ret_code], [400, 1008007]);
    assert.match(String(bad.body.err_msg), /to: "yesterday" is not a time/);
    const future = await post(server, url, { to: Date.now() + 3_600_000 });
    assert.deepEqual([future.status, future.body.ret_code], [400, 1008007]);
    assert.match(String(future.body.err_msg), /is in the future/);
    const extra = await post(server, url, { to: 0, dryrun: true });
    assert.equal(extra.status, 400);
    const unknown = await post(server, '/admin/v1/apps/1599999999/rewind', { to: 0 });
    assert.equal(unknown.status, 404);
    // Before the app existed its history is complete (it was empty); an import cuts it.
    await server.store.importBindings(server.tenant.id, []);
    const refused = await post(server, url, { to: Date.now() - 60_000 });
    assert.equal(refused.status, 409);
    assert.match(String(refused.body.err_msg), /the history cannot answer for .*an import/);
  });
});

describe('bindery app rewind', () => {
  it('rewinds on the store itself, dry run first, as the README shows', async (t) => {
    const { store, path: file, app } = await sqliteStoreWithApp(t);
    await writeBatch(store, app.id, bindTo('keep', 'ann'));
    await sleep(5);
    const moment = new Date().toISOString();
    await sleep(5);
    await writeBatch(store, app.id, {
      ...bindTo('stray', 'ann'),
      elements: [{ op: 4, token: 'keep' }, bindTo('stray', 'ann').elements[0]!],
    });
    await store.close();
    const env = { BINDERY_DATABASE_URL: `sqlite:${file}` };

    const dry = cli(['app', 'rewind', '1500000001', '--to', moment, '--dry-run'], env);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /would bind 1 and unbind 1; nothing changed/);
    const done = cli(['app', 'rewind', '1500000001', '--to', moment, '--json'], env);
    assert.equal(done.status, 0, done.stderr);
    assert.deepEqual((({ bind, unbind, dry_run }) => ({ bind, unbind, dry_run }))(JSON.parse(done.stdout)), {
      bind: 1,
      unbind: 1,
      dry_run: false,
    });
    const reopened = await SqliteStore.open(file);
    t.after(() => reopened.close());
    const [keep, stray] = await reopened.accountsOfTokens(app.id, ['keep', 'stray']);
    assert.deepEqual([keep?.length, stray?.length], [1, 0]);

    const refused = cli(['app', 'rewind', '1500000001', '--to', 'not-a-time'], env);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /is not a time/);
    const none = cli(['app', 'rewind', '1599999999', '--to', moment], env);
    assert.equal(none.status, 3);
  });
});
