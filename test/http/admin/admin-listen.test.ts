/**
 * BINDERY_ADMIN_LISTEN, on a real server: the admin API and the console answer on their own
 * listener and not on the tenants' (which answers 404 there, as for any unknown path), the tenants'
 * APIs answer on theirs and not on the admin one, and both answer health. The control: without
 * the setting, one listener serves both, as before.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { tempDir } from '../../support/helpers.ts';
import { freePort } from '../../support/postgres-server.ts';
import { basicHeader, cli, startServer, stopServer } from '../../support/server-process.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TOKEN = 'admin-token-for-the-listener-test';
const QUERY = '/v3/device/account/query';

async function statusOf(url: string, init: RequestInit = {}): Promise<number> {
  return (await fetch(url, { ...init, redirect: 'manual' })).status;
}

it('serves the admin API and the console on their own listener, and only there', async (t) => {
  const url = `sqlite:${join(tempDir(t), 'bindery.db')}`;
  const made = cli(['app', 'create', '--name', 'tenant', '--json'], { BINDERY_DATABASE_URL: url });
  assert.equal(made.status, 0, made.stderr);
  const app = JSON.parse(made.stdout) as { access_id: string; secret_key: string };
  const tenantQuery: RequestInit = {
    method: 'POST',
    headers: { authorization: basicHeader(app.access_id, app.secret_key) },
    body: JSON.stringify({ operator_type: 1, account_list: [{ account: 'alice' }] }),
  };
  const admin: RequestInit = { headers: { authorization: `Bearer ${TOKEN}` } };

  // The control: one listener serves everything.
  const one = await startServer({ BINDERY_DATABASE_URL: url, BINDERY_ADMIN_TOKEN: TOKEN });
  assert.equal(await statusOf(`${one.url}/admin/v1/apps`, admin), 200);
  assert.equal(await statusOf(`${one.url}/console/`), 200);
  assert.equal(await statusOf(one.url + QUERY, tenantQuery), 200);
  await stopServer(one);

  const port = await freePort();
  const apart = await startServer({
    BINDERY_DATABASE_URL: url,
    BINDERY_ADMIN_TOKEN: TOKEN,
    BINDERY_ADMIN_LISTEN: `127.0.0.1:${port}`,
  });
  t.after(() => stopServer(apart));
  const adminUrl = `http://127.0.0.1:${port}`;
  for (let waited = 0; !/admin console at/.test(apart.output()) && waited < 5000; waited += 50) await sleep(50);
  assert.match(apart.output(), new RegExp(`admin API on ${adminUrl} \\(BINDERY_ADMIN_LISTEN\\), not on ${apart.url}`));
  assert.match(apart.output(), new RegExp(`admin console at ${adminUrl}/console/`));

  assert.equal(await statusOf(`${adminUrl}/admin/v1/apps`, admin), 200);
  assert.equal(await statusOf(`${adminUrl}/console/`), 200);
  assert.equal(await statusOf(`${adminUrl}/healthz`), 200);
  assert.equal(await statusOf(adminUrl + QUERY, tenantQuery), 404, 'no tenant API on the admin listener');

  assert.equal(await statusOf(apart.url + QUERY, tenantQuery), 200);
  assert.equal(await statusOf(`${apart.url}/healthz`), 200);
  const onTenants = await fetch(`${apart.url}/admin/v1/apps`, admin);
  assert.equal(onTenants.status, 404, 'no admin API on the tenants listener');
  assert.equal(((await onTenants.json()) as { ret_code: number }).ret_code, 1008007);
  assert.equal(await statusOf(`${apart.url}/console/`), 404, 'no console on the tenants listener');
  // However many wrong tokens reach the tenants' listener, none is an admin failure: the right token still works.
  for (let i = 0; i < 20; i++) {
    await statusOf(`${apart.url}/admin/v1/apps`, { headers: { authorization: `Bearer wrong-token-${i}-xxxxxxxxxx` } });
  }
  assert.equal(await statusOf(`${adminUrl}/admin/v1/apps`, admin), 200);
});
