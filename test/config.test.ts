/** Settings that need more than a number: each refusal says what is wrong and how to fix it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { tempDir } from './support/helpers.ts';

const PG = 'postgres://bindery:secret@primary:5432/bindery';

describe('read replica settings', () => {
  it('takes comma-separated replica URLs with a PostgreSQL database, and the two limits', () => {
    const config = loadConfig({
      BINDERY_DATABASE_URL: PG,
      BINDERY_DATABASE_READ_URLS: ' postgres://r1:5432/bindery , postgresql://r2/bindery,',
      BINDERY_REPLICA_WAIT_MS: '50',
      BINDERY_REPLICA_MAX_LAG_MS: '2000',
    });
    assert.deepEqual(config.databaseReadUrls, ['postgres://r1:5432/bindery', 'postgresql://r2/bindery']);
    assert.deepEqual([config.replicaWaitMs, config.replicaMaxLagMs], [50, 2000]);
    assert.deepEqual(loadConfig({ BINDERY_DATABASE_URL: PG }).databaseReadUrls, []);
  });

  it('refuses replicas of SQLite and URLs that are not PostgreSQL, without printing passwords', () => {
    assert.throws(
      () => loadConfig({ BINDERY_DATABASE_READ_URLS: PG }),
      (error: unknown) => error instanceof ConfigError && /BINDERY_DATABASE_URL is not PostgreSQL/.test(error.message),
    );
    assert.throws(
      () => loadConfig({ BINDERY_DATABASE_URL: PG, BINDERY_DATABASE_READ_URLS: 'mysql://u:hunter2@r1/db' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          'BINDERY_DATABASE_READ_URLS has "mysql://u:***@r1/db": give comma-separated ' +
            'postgres://user:password@host:5432/dbname URLs of replicas.',
    );
  });
});

it('BINDERY_TRUST_PROXY takes addresses and CIDR ranges, and says how to fix anything else', () => {
  assert.deepEqual(loadConfig({}).trustProxy, []);
  assert.deepEqual(loadConfig({ BINDERY_TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,::1' }).trustProxy, [
    '10.0.0.5',
    '10.1.0.0/16',
    '::1',
  ]);
  for (const bad of ['loadbalancer', '10.0.0.0/33', '10.0.0.1/8/2', 'true']) {
    assert.throws(
      () => loadConfig({ BINDERY_TRUST_PROXY: bad }),
      (error: unknown) => error instanceof ConfigError && /is not an address or a CIDR range/.test(error.message),
      bad,
    );
  }
});

it('BINDERY_ADMIN_LISTEN takes host:port apart from the tenants, and says how to fix anything else', () => {
  assert.equal(loadConfig({}).adminListen, null);
  assert.deepEqual(loadConfig({ BINDERY_ADMIN_LISTEN: '127.0.0.1:8081' }).adminListen, {
    host: '127.0.0.1',
    port: 8081,
  });
  assert.deepEqual(loadConfig({ BINDERY_ADMIN_LISTEN: '[::1]:9000' }).adminListen, { host: '::1', port: 9000 });
  assert.deepEqual(loadConfig({ BINDERY_ADMIN_LISTEN: 'admin.internal:8081' }).adminListen, {
    host: 'admin.internal',
    port: 8081,
  });
  for (const bad of ['8081', '127.0.0.1', '127.0.0.1:99999', '::1:8081', '[nothost]:80', 'a b:80']) {
    assert.throws(
      () => loadConfig({ BINDERY_ADMIN_LISTEN: bad }),
      (error: unknown) => error instanceof ConfigError && /give host:port/.test(error.message),
      bad,
    );
  }
  assert.throws(
    () => loadConfig({ BINDERY_ADMIN_LISTEN: '127.0.0.1:8080' }),
    (error: unknown) => error instanceof ConfigError && /where the tenants' API listens/.test(error.message),
  );
});

it('BINDERY_SECRETS_KEY takes 32 bytes in base64, from the variable or a file, and says how to make one', (t) => {
  assert.equal(loadConfig({}).secretsKey, null);
  const key = randomBytes(32);
  assert.deepEqual(loadConfig({ BINDERY_SECRETS_KEY: key.toString('base64') }).secretsKey, key);
  const file = join(tempDir(t), 'secrets.key');
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600 });
  assert.deepEqual(loadConfig({ BINDERY_SECRETS_PREVIOUS_KEY_FILE: file }).secretsPreviousKey, key);
  for (const bad of [
    'short',
    randomBytes(16).toString('base64'),
    randomBytes(32).toString('hex'),
    'not base64 at all!!',
  ]) {
    assert.throws(
      () => loadConfig({ BINDERY_SECRETS_KEY: bad }),
      (error: unknown) => error instanceof ConfigError && /openssl rand -base64 32/.test(error.message),
      bad,
    );
  }
  assert.throws(
    () => loadConfig({ BINDERY_SECRETS_KEY: key.toString('base64'), BINDERY_SECRETS_KEY_FILE: file }),
    /both BINDERY_SECRETS_KEY and BINDERY_SECRETS_KEY_FILE/,
  );
  assert.throws(() => loadConfig({ BINDERY_SECRETS_KEY_FILE: join(file, 'missing') }), /cannot be read/);
});
