/** Settings that need more than a number: each refusal says what is wrong and how to fix it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';

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
