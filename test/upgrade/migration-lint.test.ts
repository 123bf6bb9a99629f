/**
 * The half of the schema rule a running test cannot see (ARCHITECTURE.md, "Schema changes"): a
 * migration since the previous release must not rewrite or lock a large table for long while the
 * other instances serve it. Each statement of those migrations is read for the forms that do
 * (after squawk's and strong_migrations' rules), on both dialects.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Migration } from '../../src/store/migrations.ts';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/postgres-schema.ts';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/sqlite-schema.ts';
import { previousRelease } from '../support/previous-release.ts';

/** The tables that grow with the bindings: what a rewrite or a long lock would stall. */
const LARGE = ['bindings', 'history', 'webhook_outbox', 'webhook_deliveries', 'idempotency_keys'];
const large = `(?:${LARGE.join('|')})\\b`;

const RULES: { name: string; pattern: RegExp }[] = [
  { name: 'changes a column type (rewrites the table)', pattern: /\bALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE\b/i },
  { name: 'sets NOT NULL on an existing column (scans under an exclusive lock)', pattern: /\bSET\s+NOT\s+NULL\b/i },
  {
    name: 'adds a column with a volatile default (rewrites the table)',
    pattern: /\bADD\s+COLUMN\b[^,;]*\bDEFAULT\s+[^,;]*\b(now|random|clock_timestamp|gen_random_uuid|nextval)\s*\(/i,
  },
  { name: 'rewrites a table (VACUUM FULL, CLUSTER)', pattern: /\b(VACUUM\s+FULL|CLUSTER)\b/i },
  {
    name: 'builds an index on a large table without CONCURRENTLY (blocks its writes)',
    pattern: new RegExp(`\\bCREATE\\s+(UNIQUE\\s+)?INDEX\\s+(?!CONCURRENTLY)[^;]*\\bON\\s+${large}`, 'i'),
  },
  {
    name: 'updates or deletes a large table in one statement (fill it in batches instead)',
    pattern: new RegExp(`\\b(UPDATE\\s+${large}|DELETE\\s+FROM\\s+${large})`, 'i'),
  },
  {
    name: 'adds a constraint that scans a large table under a lock (add it NOT VALID, validate later)',
    pattern: new RegExp(`\\bALTER\\s+TABLE\\s+${large}[^;]*\\bADD\\s+CONSTRAINT\\b(?![^;]*NOT\\s+VALID)`, 'i'),
  },
  { name: 'renames or drops what the previous release may read', pattern: /\b(RENAME\b|DROP\s+(COLUMN|TABLE)\b)/i },
];

/** What a migration breaks, one line per statement and rule. */
function problems(migration: Migration): string[] {
  const statements = migration.sql
    .replace(/--.*$/gm, '')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
  return statements.flatMap((statement) =>
    RULES.filter((rule) => rule.pattern.test(statement))
      // A contracting migration says so, and may then drop what no supported release reads.
      .filter((rule) => !(rule.name.startsWith('renames or drops') && migration.oldestReader !== undefined))
      .map((rule) => `migration ${migration.version} (${migration.name}): ${rule.name}: ${statement.slice(0, 120)}`),
  );
}

describe('migrations since the previous release neither rewrite nor hold a large table', async () => {
  const release = previousRelease();
  const previous = {
    sqlite: (await import(pathToFileURL(join(release.dir, 'src/store/sqlite/sqlite-schema.ts')).href)) as {
      SQLITE_MIGRATIONS: readonly Migration[];
    },
    postgres: (await import(pathToFileURL(join(release.dir, 'src/store/postgres/postgres-schema.ts')).href)) as {
      POSTGRES_MIGRATIONS: readonly Migration[];
    },
  };
  const cases = [
    ['SQLite', SQLITE_MIGRATIONS, previous.sqlite.SQLITE_MIGRATIONS],
    ['PostgreSQL', POSTGRES_MIGRATIONS, previous.postgres.POSTGRES_MIGRATIONS],
  ] as const;

  for (const [name, current, before] of cases) {
    it(`${name}: the released migrations are unchanged, and the new ones pass the rules`, () => {
      for (const old of before) {
        const now = current.find((m) => m.version === old.version);
        assert.deepEqual(
          { version: now?.version, sql: now?.sql },
          { version: old.version, sql: old.sql },
          `migration ${old.version} was released in ${release.version}: add a new one instead of editing it`,
        );
      }
      const known = before.at(-1)?.version ?? 0;
      const added = current.filter((m) => m.version > known);
      assert.deepEqual(added.flatMap(problems), []);
    });
  }

  it('the rules catch the changes they are for', () => {
    const bad = (sql: string, oldestReader?: number) =>
      problems({ version: 99, name: 'bad', sql, ...(oldestReader ? { oldestReader } : {}) });
    for (const sql of [
      'ALTER TABLE bindings ALTER COLUMN token TYPE text',
      'ALTER TABLE history ALTER COLUMN at SET NOT NULL',
      'ALTER TABLE bindings ADD COLUMN seen BIGINT DEFAULT (extract(epoch FROM clock_timestamp()))',
      'VACUUM FULL bindings',
      'CREATE INDEX bindings_by_platform ON bindings (app_id, platform)',
      'CREATE UNIQUE INDEX h ON history (id)',
      "UPDATE bindings SET platform = 'ios'",
      'DELETE FROM history WHERE at < 0',
      'ALTER TABLE bindings ADD CONSTRAINT p CHECK (platform IS NOT NULL)',
      'ALTER TABLE bindings RENAME COLUMN platform TO device_platform',
      'ALTER TABLE apps DROP COLUMN history_from',
    ]) {
      assert.equal(bad(sql).length, 1, `${sql}: ${bad(sql).join('; ')}`);
    }
    for (const sql of [
      'ALTER TABLE bindings ADD COLUMN seen BIGINT',
      "ALTER TABLE bindings ADD COLUMN state TEXT NOT NULL DEFAULT 'active'",
      'CREATE TABLE schema_compatibility (id INTEGER PRIMARY KEY, oldest_reader INTEGER NOT NULL)',
      'CREATE INDEX CONCURRENTLY bindings_by_platform ON bindings (app_id, platform)',
      'UPDATE apps SET history_from = 0',
      'ALTER TABLE bindings ADD CONSTRAINT p CHECK (platform IS NOT NULL) NOT VALID',
    ]) {
      assert.deepEqual(bad(sql), [], sql);
    }
    assert.deepEqual(bad('ALTER TABLE apps DROP COLUMN history_from', 10), [], 'a contracting migration may drop');
  });
});
