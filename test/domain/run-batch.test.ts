/**
 * The order of the nine steps and what a refusal leaves unwritten, seen through a BatchTransaction
 * that records its calls. What the stores do with those calls is test/store/store-contract.ts's job.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runBatch } from '../../src/domain/run-batch.ts';
import { AppNotFoundError, IdempotencyMismatchError } from '../../src/errors.ts';
import type { BatchTransaction, StoredAnswer } from '../../src/model/batch-transaction.ts';
import { asBound, type BatchCommand, type Binding, DEFAULT_POLICY } from '../../src/model/types.ts';

class RecordingTransaction implements BatchTransaction {
  readonly appId = 7;
  readonly calls: string[] = [];
  private clock = 100;
  constructor(
    private readonly bound: Binding[],
    private readonly answer?: StoredAnswer,
    private readonly exists = true,
    private readonly hasWebhook = true,
  ) {}
  lockApp() {
    this.calls.push('lockApp');
    return this.exists ? { policy: DEFAULT_POLICY, hasWebhook: this.hasWebhook, historyFrom: 0 } : undefined;
  }
  historyAfter() {
    return [];
  }
  recallAnswer(key: string) {
    this.calls.push(`recallAnswer ${key}`);
    return this.answer;
  }
  async loadBindings(tokens: string[], accounts: { account: string }[]) {
    this.calls.push(`loadBindings ${tokens} ${accounts.map((a) => a.account)}`);
    return this.bound;
  }
  touchTokens(tokens: string[]): 'active'[] {
    this.calls.push(`touchTokens ${tokens}`);
    return tokens.map(() => 'active');
  }
  dueToPurge(): string[] {
    this.calls.push('dueToPurge');
    return [];
  }
  nextBoundAt() {
    return ++this.clock;
  }
  writeBindings(upserts: Binding[], deletes: Binding[]) {
    this.calls.push(`writeBindings +${upserts.map((b) => b.account)} -${deletes.map((b) => b.account)}`);
  }
  appendHistory(records: { cause: string }[]) {
    this.calls.push(`appendHistory ${records.map((r) => r.cause)}`);
  }
  appendEvents(events: { type: string }[]) {
    this.calls.push(`appendEvents ${events.map((e) => e.type)}`);
  }
  nextRevision() {
    this.calls.push('nextRevision');
    return 12;
  }
  rememberAnswer(key: { key: string }, result: unknown) {
    this.calls.push(`rememberAnswer ${key.key} ${JSON.stringify(result)}`);
  }
}

const override: BatchCommand = {
  elements: [{ op: 2, token: 't1', accounts: [{ account: 'bob', accountType: 0 }] }],
  platform: null,
  opType: null,
  opId: null,
};
const alice: Binding = asBound({ token: 't1', account: 'alice', accountType: 0, platform: null, boundAt: 50 });
const key = { key: 'k1', bodyHash: 'h1' };

describe('runBatch', () => {
  it('runs the steps in order, writing the net change once', async () => {
    const tx = new RecordingTransaction([alice]);
    const result = await runBatch(tx, override, key);
    assert.deepEqual(result, { outcomes: [{ code: 0 }], revision: 12 });
    assert.deepEqual(tx.calls, [
      'lockApp',
      'recallAnswer k1',
      'loadBindings t1 bob',
      'writeBindings +bob -alice',
      'appendHistory override,bind',
      'appendEvents binding.deleted,binding.created',
      'nextRevision',
      `rememberAnswer k1 ${JSON.stringify(result)}`,
    ]);
  });

  it('writes no events for an app without a webhook, and nothing at all when nothing changed', async () => {
    const quiet = new RecordingTransaction([alice], undefined, true, false);
    await runBatch(quiet, override);
    assert.ok(!quiet.calls.some((c) => c.startsWith('appendEvents')));
    const nothing = new RecordingTransaction([]);
    const unbind: BatchCommand = { ...override, elements: [{ op: 4, token: 't1' }] };
    assert.deepEqual((await runBatch(nothing, unbind)).outcomes, [{ code: 10110008, message: 'has no bindings' }]);
    assert.deepEqual(nothing.calls, ['lockApp', 'loadBindings t1 ', 'nextRevision']);
  });

  it('answers a remembered key without applying, and refuses another body before writing', async () => {
    const answer = { bodyHash: 'h1', result: '{"outcomes":[{"code":0}],"revision":3}', createdAt: Date.now() };
    const replay = new RecordingTransaction([alice], answer);
    assert.deepEqual(await runBatch(replay, override, key), { outcomes: [{ code: 0 }], revision: 3, replayed: true });
    assert.deepEqual(replay.calls, ['lockApp', 'recallAnswer k1']);

    const other = new RecordingTransaction([alice], answer);
    await assert.rejects(runBatch(other, override, { key: 'k1', bodyHash: 'h2' }), IdempotencyMismatchError);
    assert.deepEqual(other.calls, ['lockApp', 'recallAnswer k1']);

    const expired = new RecordingTransaction([alice], { ...answer, createdAt: Date.now() - 25 * 3600 * 1000 });
    assert.equal((await runBatch(expired, override, key)).replayed, undefined, 'a key older than 24 h is new again');
  });

  it('writes seen in place: nothing read, no history, no event', async () => {
    const tx = new RecordingTransaction([alice]);
    const result = await runBatch(tx, { kind: 'seen', tokens: ['t1', 't2'] });
    assert.deepEqual(result.outcomes, [
      { code: 0, action: 'seen' },
      { code: 0, action: 'seen' },
    ]);
    assert.deepEqual(tx.calls, ['lockApp', 'touchTokens t1,t2', 'nextRevision']);
  });

  it('a sweep with nothing due takes no revision, so clients see theirs without gaps', async () => {
    const tx = new RecordingTransaction([alice]);
    const result = await runBatch(tx, { kind: 'sweep', now: Date.now(), purgeLimit: 10, tokens: [] });
    assert.deepEqual(result, { outcomes: [], revision: 0 });
    assert.deepEqual(tx.calls, ['lockApp', 'dueToPurge']);
  });

  it('refuses a batch of an app that is gone before reading anything else', async () => {
    const gone = new RecordingTransaction([alice], undefined, false);
    await assert.rejects(runBatch(gone, override, key), AppNotFoundError);
    assert.deepEqual(gone.calls, ['lockApp']);
  });
});
