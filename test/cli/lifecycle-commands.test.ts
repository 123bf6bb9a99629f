/** `bindery feedback FILE`, `bindery restore TOKEN`, and the lifecycle policy flags, against a running server. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../support/helpers.ts';
import { cli, cliServer } from '../support/server-process.ts';

describe('bindery feedback / restore', () => {
  it('reports a file of provider answers in requests of 1,000, says what happened, and restores', async (t) => {
    const env = await cliServer(t);
    const dir = tempDir(t);
    // Bound: t0, t1, t100, t101, ... t1401: 30 of the 1,500 tokens answered for.
    for (let i = 0; i < 1500; i += 100) {
      for (const token of [`t${i}`, `t${i + 1}`]) assert.equal(cli(['bind', token, `u-${token}`], env).status, 0);
    }
    const lines = [
      ...Array.from({ length: 1500 }, (_, i) =>
        JSON.stringify({ token: `t${i}`, provider: 'fcm', reason: i % 2 ? 'UNAVAILABLE' : 'UNREGISTERED' }),
      ),
      '{"token": "t0", "provider": "apns"',
      JSON.stringify({ token: 't0', provider: 'apns', reason: 'BadTopic', status: 400 }),
    ];
    writeFileSync(join(dir, 'answers.ndjson'), `${lines.join('\n')}\n`);
    const result = cli(['feedback', join(dir, 'answers.ndjson')], env);
    assert.equal(result.status, 4, result.stderr);
    // Even tokens were answered UNREGISTERED (15 of them bound), odd ones UNAVAILABLE.
    assert.match(
      result.stdout,
      /^1502 answers in [\d.]+ s: 15 tokens quarantined, 0 already quarantined, 0 bound again since \(kept\), 750 transient, 735 unknown tokens, 2 refused\n/,
    );
    assert.match(result.stdout, /answers\.ndjson line 1501: not valid JSON/);
    assert.match(result.stdout, /answers\.ndjson line 1502: apns answer with reason "BadTopic" and status 400/);
    assert.match(result.stderr, /reporting .*100% \| 1502\/1502 answers/, 'progress on stderr');

    const csv = join(dir, 'answers.csv');
    writeFileSync(csv, 'token,provider,reason,status,at\nt1,apns,Unregistered,410,\nt0,fcm,UNREGISTERED,,\n');
    const json = JSON.parse(cli(['feedback', csv, '--json'], env).stdout) as Record<string, number>;
    assert.deepEqual([json.quarantined, json.already_quarantined], [1, 1]);

    const queried = JSON.parse(cli(['query', '--account', 'u-t0', '--json'], env).stdout || '[]') as unknown[];
    assert.deepEqual(queried, [], 'quarantined: not answered');
    assert.equal(cli(['restore', 't0'], env).stdout, 'restored t0: it is answered in queries again\n');
    assert.equal(cli(['restore', 't0'], env).stdout, 't0 was not quarantined; its last_seen_at is now\n');
    const missing = cli(['restore', 'nope'], env);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /no bindings/);
  });

  it('sets the lifecycle policy at create and with set-policy, and refuses a warning after the expiry', (t) => {
    const env = { BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}` };
    const created = JSON.parse(
      cli(['app', 'create', '--name', 'x', '--token-ttl-days', '60', '--quarantine-days', '10', '--json'], env).stdout,
    ) as Record<string, unknown>;
    assert.deepEqual([created.token_ttl_days, created.quarantine_days, created.expiry_warning_days], [60, 10, 7]);
    const id = String(created.access_id);
    const late = cli(['app', 'set-policy', id, '--expiry-warning-days', '60'], env);
    assert.equal(late.status, 2);
    assert.match(late.stderr, /expiry_warning_days \(60\) must be less than token_ttl_days \(60\)/);
    const off = JSON.parse(cli(['app', 'set-policy', id, '--no-token-ttl', '--json'], env).stdout) as Record<
      string,
      unknown
    >;
    assert.equal(off.token_ttl_days, null);
    const on = JSON.parse(
      cli(['app', 'set-policy', id, '--expiry-warning-days', '60', '--json'], env).stdout,
    ) as Record<string, unknown>;
    assert.equal(on.expiry_warning_days, 60, 'with no TTL any warning is fine');
  });
});
