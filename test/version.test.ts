/** Which release runs, said the same way everywhere: `bindery --version`, GET /healthz and bindery_build_info. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { POSTGRES_MIGRATIONS } from '../src/store/postgres/postgres-schema.ts';
import { SQLITE_MIGRATIONS } from '../src/store/sqlite/sqlite-schema.ts';
import { testServer } from './support/helpers.ts';
import { cli } from './support/server-process.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const sqlite = SQLITE_MIGRATIONS.at(-1)!.version;
const postgres = POSTGRES_MIGRATIONS.at(-1)!.version;

it('bindery --version prints the version of package.json and the schema version of each store', () => {
  for (const flag of ['--version', '-V']) {
    const run = cli([flag], {});
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), `bindery ${version} (schema versions: SQLite ${sqlite}, PostgreSQL ${postgres})`);
  }
});

it('GET /healthz and bindery_build_info say the same', async (t) => {
  const server = await testServer(t);
  const health = await server.app.inject({ method: 'GET', url: '/healthz' });
  assert.deepEqual(health.json(), { status: 'ok', version, schema: { sqlite, postgres } });
  const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = metrics.split('\n').find((l) => l.startsWith('bindery_build_info{'));
  assert.ok(line, 'bindery_build_info is exported');
  for (const label of [
    `version="${version}"`,
    `node_version="${process.version}"`,
    'store="sqlite"',
    `sqlite_schema="${sqlite}"`,
    `postgres_schema="${postgres}"`,
  ])
    assert.ok(line.includes(label), `${line} lacks ${label}`);
  assert.match(line, /\} 1$/);
});

it('a release says its version the same way in both packages and the changelog', () => {
  const sdk = JSON.parse(readFileSync(new URL('../packages/bindery-client/package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  assert.equal(sdk.version, version, 'the SDK is released with the server');
  assert.match(version, /^\d+\.\d+\.\d+$/);
  const changelog = readFileSync(new URL('../CHANGELOG.md', import.meta.url), 'utf8');
  const sections = [...changelog.matchAll(/^## \[([^\]]+)\]/gm)].map((m) => m[1]);
  assert.equal(sections[0], 'Unreleased', 'the changelog starts with what is not released yet');
  assert.equal(
    sections[1],
    version,
    `the newest release in CHANGELOG.md is ${sections[1]}, package.json says ${version}`,
  );
  const { previousRelease } = (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      bindery: { previousRelease: { version: string; commit: string } };
    }
  ).bindery;
  assert.ok(
    sections.includes(previousRelease.version),
    'the previous release the upgrade tests use is in the changelog',
  );
  assert.match(previousRelease.commit, /^[0-9a-f]{40}$/);
});
