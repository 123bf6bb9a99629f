/**
 * A write cut off during COMMIT (issue 34, item 5): PostgreSQL frozen (SIGSTOP of the postmaster
 * and every backend) while 4 writers run, again and again, until requests in flight at the freeze
 * have been cut off both before COMMIT and while committing. A 503 that says "nothing was changed"
 * must not have been applied; one that says "the outcome is unknown" may have been, in full only;
 * every acknowledged change is there. PostgreSQL keeps fsync on here, so a COMMIT takes long
 * enough to be caught.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { TestPostgres } from '../support/postgres-server.ts';
import { serverOnNewDatabase } from '../support/server-process.ts';
import { type Answer, boundTokens, WriteLoad } from '../support/write-load.ts';

const TIMEOUT_MS = 800;
const MAX_FREEZES = 40;

let postgres: TestPostgres;
before(async () => {
  postgres = await TestPostgres.start({ durable: true });
});
after(() => postgres?.destroy());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const unknown = (a: Answer) => a.status === 503 && /the outcome is unknown/.test(a.message ?? '');
const unchanged = (a: Answer) => a.status === 503 && /nothing was changed/.test(a.message ?? '');

it('a freeze during COMMIT answers "the outcome is unknown"; one before it "nothing was changed", and that is true', async (t) => {
  const { server, auth } = await serverOnNewDatabase(t, postgres, TIMEOUT_MS);
  const load = new WriteLoad(server.url, auth, 4, 2);
  load.start();
  t.after(() => load.stop());

  const inFlight: Answer[] = [];
  let freezes = 0;
  const caught = (): [number, number] => [inFlight.filter(unknown).length, inFlight.filter(unchanged).length];
  while (freezes < MAX_FREEZES && caught().some((n) => n === 0)) {
    await sleep(200 + Math.random() * 200);
    const frozenAt = Date.now();
    postgres.signalAll('SIGSTOP');
    freezes++;
    await sleep(TIMEOUT_MS + 700);
    postgres.signalAll('SIGCONT');
    await load.acknowledgedAfter(Date.now(), 8);
    inFlight.push(...load.answers.filter((a) => a.started < frozenAt && a.ended > frozenAt && a.status === 503));
  }
  await load.stop();
  const [unknownCount, unchangedCount] = caught();
  assert.ok(unknownCount > 0, `no request was cut off while committing in ${freezes} freezes`);
  assert.ok(unchangedCount > 0, `no request was cut off before COMMIT in ${freezes} freezes`);

  const other = load.answers.filter((a) => !(a.status === 200 && a.retCode === 0) && !unknown(a) && !unchanged(a));
  assert.deepEqual(other.slice(0, 3), [], 'every answer is 200/0, or a 503 that says which kind it is');
  const acknowledged = load.ok().flatMap((a) => a.tokens);
  assert.equal(
    (await boundTokens(server.url, auth, acknowledged)).size,
    acknowledged.length,
    'an acknowledged change is missing',
  );
  const saidUnchanged = load.answers.filter(unchanged);
  const applied = await boundTokens(
    server.url,
    auth,
    saidUnchanged.flatMap((a) => a.tokens),
  );
  assert.deepEqual([...applied], [], 'a request answered "nothing was changed" was applied');
  let appliedUnknown = 0;
  for (const answer of load.answers.filter(unknown)) {
    const found = (await boundTokens(server.url, auth, answer.tokens)).size;
    assert.ok(found === 0 || found === answer.tokens.length, 'a write of unknown outcome was applied in part');
    if (found > 0) appliedUnknown++;
  }
  t.diagnostic(
    `${freezes} freezes; in flight at a freeze: ${unknownCount} cut off while committing (of all such answers, ` +
      `${appliedUnknown} of ${load.answers.filter(unknown).length} were applied in full, the rest not at all), ` +
      `${unchangedCount} before COMMIT (none applied); ${load.ok().length} acknowledged, all present`,
  );
});
