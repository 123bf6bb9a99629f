/**
 * `bindery secrets rotate-key` while bindery serves, on both stores, as README "Secrets at rest"
 * says to run it: the instances run with the new key and the old one as BINDERY_SECRETS_PREVIOUS_KEY
 * (two instances on one PostgreSQL), three apps' clients write through them, and the command seals
 * every secret under the new key in flight. No request fails authentication, before, during or
 * after (each instance reads its apps again every second, so it opens them under the new key
 * while the load runs); afterwards the new key alone serves. The control: an instance given only the
 * old key starts failing requests once the secrets move, so the test would see a rotation that
 * broke authentication.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { secretsKey } from '../../src/store/secret-box.ts';
import { tempDir } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { basicHeader, cli, cliAsync, type ServerProcess, startServer, stopServer } from '../support/server-process.ts';
import { WriteLoad } from '../support/write-load.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');
const NEW_ID = secretsKey(Buffer.from(NEW, 'base64')).id;

let postgres: TestPostgres | undefined;
after(() => postgres?.destroy());

const STORES: { name: string; url: (t: TestContext) => Promise<string>; instances: number }[] = [
  { name: 'SQLite', url: async (t) => `sqlite:${join(tempDir(t), 'bindery.db')}`, instances: 1 },
  {
    name: 'PostgreSQL, two instances',
    url: async () => {
      postgres ??= await TestPostgres.start();
      return postgres.createDatabase();
    },
    instances: 2,
  },
];

/** Three apps made by the CLI with the old key: their secrets are sealed under it from the start. */
function appsUnderOldKey(url: string): string[] {
  return [1, 2, 3].map((n) => {
    const made = cli(['app', 'create', '--name', `tenant-${n}`, '--json'], {
      BINDERY_DATABASE_URL: url,
      BINDERY_SECRETS_KEY: OLD,
    });
    assert.equal(made.status, 0, made.stderr);
    const app = JSON.parse(made.stdout) as { access_id: string; secret_key: string };
    return basicHeader(app.access_id, app.secret_key);
  });
}

const keys = (current: string, previous?: string): Record<string, string> => ({
  BINDERY_SECRETS_KEY: current,
  ...(previous ? { BINDERY_SECRETS_PREVIOUS_KEY: previous } : {}),
});

/** Runs the load on every app through the instances (round robin), rotates in the middle, and returns the answers. */
async function rotateUnderLoad(url: string, servers: ServerProcess[], auths: string[], env: Record<string, string>) {
  let next = 0;
  const pick = () => servers[next++ % servers.length]!.url;
  const loads = auths.map((auth) => new WriteLoad(pick, auth, 2, 2));
  for (const [i, load] of loads.entries()) load.start(`t${i}-`);
  await sleep(1500);
  const rotatedFrom = Date.now();
  const rotated = await cliAsync(['secrets', 'rotate-key', '--json'], { BINDERY_DATABASE_URL: url, ...env });
  const rotatedAt = Date.now();
  // Past the apps' cache time (1 s), so that every instance reads them again under the new key.
  await sleep(2500);
  await Promise.all(loads.map((load) => load.stop()));
  return { rotated, rotatedFrom, rotatedAt, answers: loads.flatMap((load) => load.answers) };
}

for (const store of STORES) {
  describe(`secrets rotate-key under load: ${store.name}`, () => {
    it('seals every secret under the new key while no request fails authentication', async (t) => {
      const url = await store.url(t);
      const auths = appsUnderOldKey(url);
      const env = { BINDERY_DATABASE_URL: url, BINDERY_BOOTSTRAP_APP: 'false', ...keys(NEW, OLD) };
      const servers = await Promise.all(Array.from({ length: store.instances }, () => startServer(env)));
      const { rotated, rotatedFrom, rotatedAt, answers } = await rotateUnderLoad(url, servers, auths, keys(NEW, OLD));
      await Promise.all(servers.map(stopServer));

      assert.equal(rotated.status, 0, rotated.stderr);
      const summary = JSON.parse(rotated.stdout) as { key: string; rewritten: number; clear: number; sealed: object };
      assert.equal(summary.key, NEW_ID);
      assert.ok(summary.rewritten >= 3, `rewrote ${summary.rewritten}`);
      assert.deepEqual(summary.sealed, { [NEW_ID]: 3 });
      const failed = answers.filter((a) => a.status !== 200 || a.retCode !== 0);
      assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${answers.length} requests failed`);
      for (const [phase, from, to] of [
        ['before', 0, rotatedFrom],
        ['during', rotatedFrom, rotatedAt],
        ['after', rotatedAt, Number.POSITIVE_INFINITY],
      ] as const) {
        const n = answers.filter((a) => a.started >= from && a.started < to).length;
        assert.ok(n > 0, `no request was answered ${phase} the rotation`);
      }

      // The old key is retired: the new one alone serves every app.
      const server = await startServer({ ...env, ...keys(NEW), BINDERY_SECRETS_PREVIOUS_KEY: '' });
      t.after(() => stopServer(server));
      for (const auth of auths) {
        const load = new WriteLoad(server.url, auth, 1, 1);
        load.start('after-');
        await sleep(200);
        await load.stop();
        assert.ok(load.ok().length > 0 && load.ok().length === load.answers.length, JSON.stringify(load.answers[0]));
      }
      const status = cli(['secrets', 'status', '--json'], { BINDERY_DATABASE_URL: url, ...keys(NEW) });
      assert.deepEqual(JSON.parse(status.stdout).sealed, { [NEW_ID]: 3 });
    });

    it('the control: an instance given only the old key fails requests once the secrets move', async (t) => {
      const url = await store.url(t);
      const auths = appsUnderOldKey(url);
      const server = await startServer({ BINDERY_DATABASE_URL: url, BINDERY_BOOTSTRAP_APP: 'false', ...keys(OLD) });
      t.after(() => stopServer(server));
      const { rotated, answers } = await rotateUnderLoad(url, [server], auths, keys(NEW, OLD));
      assert.equal(rotated.status, 0, rotated.stderr);
      const failed = answers.filter((a) => a.status !== 200 || a.retCode !== 0);
      assert.ok(failed.length > 0, `all ${answers.length} requests were answered`);
      assert.match(server.output(), new RegExp(`sealed under the secrets key with id ${NEW_ID}`));
    });
  });
}
