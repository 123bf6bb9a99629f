import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { arrayLiteral, withArrayLiterals } from '../../../src/store/postgres/postgres-arrays.ts';
import { TestPostgres } from '../../support/postgres-server.ts';

let server: TestPostgres;
let client: pg.Client;
before(async () => {
  server = await TestPostgres.start();
  client = new pg.Client({ connectionString: await server.createDatabase() });
  await client.connect();
});
after(async () => {
  await client?.end();
  await server?.destroy();
});

const TEXTS = [
  '',
  'plain',
  'a"b',
  'a\\b',
  '\\"',
  'a,b',
  '{x}',
  ' spaced ',
  'NULL',
  'null',
  'ünï',
  '👍🏽',
  'tab\there',
  'line\nbreak',
];

describe('PostgreSQL array literals', () => {
  it('reads back every text exactly, NULL as null, as pg sends them itself', async () => {
    const values = [...TEXTS, null, ...TEXTS.map((t) => `${t}"${t}\\`)];
    const ours = await client.query('SELECT $1::text[] AS v', [arrayLiteral(values)]);
    const pgs = await client.query('SELECT $1::text[] AS v', [values]);
    assert.deepEqual(ours.rows[0].v, values);
    assert.deepEqual(ours.rows[0].v, pgs.rows[0].v);
  });

  it('reads back integers, bigints and booleans', async () => {
    const ints = [0, -1, 42, 2 ** 31 - 1, null];
    const bigs = [0, Date.now() * 1000, 2 ** 53 - 1];
    const bools = [true, false, null];
    const { rows } = await client.query(
      'SELECT $1::int[] AS i, $2::bigint[] AS b, $3::bool[] AS t',
      withArrayLiterals([ints, bigs, bools]),
    );
    assert.deepEqual(rows[0].i, ints);
    assert.deepEqual(rows[0].b.map(Number), bigs);
    assert.deepEqual(rows[0].t, bools);
  });

  it('leaves the other parameters as they are, and an empty list is an empty array', async () => {
    const { rows } = await client.query(
      'SELECT $1::int AS n, $2::text AS s, cardinality($3::text[]) AS c',
      withArrayLiterals([7, 'x', []]),
    );
    assert.deepEqual(rows[0], { n: 7, s: 'x', c: 0 });
  });
});
