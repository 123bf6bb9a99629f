/** The batch rules alone, without a store: what changes each op records, with causes, in order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyBatch } from '../../src/domain/apply-batch.ts';
import { keysToLoad } from '../../src/domain/batch-footprint.ts';
import { BindingSet } from '../../src/model/binding-set.ts';
import { asBound, type BatchCommand, type BatchElement, type Binding, DEFAULT_POLICY } from '../../src/model/types.ts';

const b = (token: string, account: string, boundAt: number, platform: Binding['platform'] = null): Binding =>
  asBound({ token, account, accountType: 0, platform, boundAt });
/** The time the batches run at, Unix ms: last_seen_at of what they bind. */
const NOW = 1_000;
const cmd = (elements: BatchElement[], platform: BatchCommand['platform'] = null): BatchCommand => ({
  elements,
  platform,
  opType: null,
  opId: null,
});
const counter = (start = 100) => {
  let t = start;
  return () => ++t;
};
const summary = (changes: ReturnType<typeof applyBatch>['changes']) =>
  changes.map((c) =>
    c.kind === 'platform'
      ? `platform ${c.token} ${c.platform}`
      : `${c.kind} ${c.binding.token}/${c.binding.account} ${c.kind === 'touch' ? 'seen' : c.cause}`,
  );

describe('applyBatch', () => {
  it('records evictions with their cause, oldest first', () => {
    // a1 and a2 are seen now (the token registered again), then a1 goes for the new binding.
    const set = new BindingSet([b('t1', 'a1', 1), b('t1', 'a2', 2), b('t9', 'a3', 3)]);
    const { outcomes, changes } = applyBatch(
      set,
      cmd([{ op: 1, token: 't1', accounts: [{ account: 'a3', accountType: 0 }] }]),
      { ...DEFAULT_POLICY, maxAccountsPerToken: 2, maxTokensPerAccount: 1, bindingRules: 'append' },
      counter(),
      NOW,
    );
    assert.deepEqual(outcomes, [{ code: 0 }]);
    assert.deepEqual(summary(changes), [
      'touch t1/a1 seen',
      'touch t1/a2 seen',
      'put t1/a3 bind',
      'delete t1/a1 evicted',
      'delete t9/a3 evicted',
    ]);
  });

  it('op 2 records override removals before the binds', () => {
    const set = new BindingSet([b('t1', 'a1', 1), b('t1', 'a2', 2)]);
    const { changes } = applyBatch(
      set,
      cmd([
        {
          op: 2,
          token: 't1',
          accounts: [
            { account: 'a2', accountType: 0 },
            { account: 'a3', accountType: 0 },
          ],
        },
      ]),
      { ...DEFAULT_POLICY, maxAccountsPerToken: 10, maxTokensPerAccount: 10, bindingRules: 'append' },
      counter(),
      NOW,
    );
    assert.deepEqual(summary(changes), ['delete t1/a1 override', 'put t1/a2 bind', 'put t1/a3 bind']);
  });

  it('op 4 and op 5 record resets', () => {
    const set = new BindingSet([b('t1', 'a1', 1), b('t2', 'a1', 2), b('t2', 'a2', 3)]);
    const { changes } = applyBatch(
      set,
      cmd([
        { op: 4, token: 't2' },
        { op: 5, account: { account: 'a1', accountType: 0 } },
      ]),
      { ...DEFAULT_POLICY, maxAccountsPerToken: 10, maxTokensPerAccount: 10, bindingRules: 'append' },
      counter(),
      NOW,
    );
    assert.deepEqual(summary(changes), [
      'delete t2/a1 token_reset',
      'delete t2/a2 token_reset',
      'delete t1/a1 account_reset',
    ]);
  });

  it('a given platform is recorded once on the token, not again when it already matches', () => {
    const set = new BindingSet([b('t1', 'a1', 1, 'android')]);
    const first = applyBatch(
      set,
      cmd([{ op: 1, token: 't1', accounts: [{ account: 'a2', accountType: 0 }] }], 'ios'),
      { ...DEFAULT_POLICY, maxAccountsPerToken: 10, maxTokensPerAccount: 10, bindingRules: 'append' },
      counter(),
      NOW,
    );
    assert.deepEqual(summary(first.changes), ['platform t1 ios', 'touch t1/a1 seen', 'put t1/a2 bind']);
    assert.deepEqual(
      set.ofToken('t1').map((x) => x.platform),
      ['ios', 'ios'],
    );
    const second = applyBatch(
      set,
      cmd([{ op: 1, token: 't1', accounts: [{ account: 'a3', accountType: 0 }] }], 'ios'),
      { ...DEFAULT_POLICY, maxAccountsPerToken: 10, maxTokensPerAccount: 10, bindingRules: 'append' },
      counter(200),
      NOW,
    );
    // a2 was seen when bound (its bind time); a1 already now: only a2 is touched.
    assert.deepEqual(summary(second.changes), ['touch t1/a2 seen', 'put t1/a3 bind']);
  });

  it('keysToLoad names every token and account the command touches, once', () => {
    const keys = keysToLoad(
      cmd([
        {
          op: 1,
          token: 't1',
          accounts: [
            { account: 'a1', accountType: 0 },
            { account: 'a1', accountType: 2 },
          ],
        },
        { op: 4, token: 't1' },
        { op: 5, account: { account: 'a1', accountType: 0 } },
        { op: 3, token: 't2', accounts: [{ account: 'a3', accountType: 0 }] },
      ]),
    );
    assert.deepEqual(keys.tokens, ['t1', 't2']);
    assert.deepEqual(keys.accounts, [
      { account: 'a1', accountType: 0 },
      { account: 'a1', accountType: 2 },
      { account: 'a3', accountType: 0 },
    ]);
  });

  describe('the tpns binding rules', () => {
    const tpns = {
      ...DEFAULT_POLICY,
      maxAccountsPerToken: 10,
      maxTokensPerAccount: 100,
      bindingRules: 'tpns' as const,
    };
    const acc = (account: string, accountType = 0) => ({ account, accountType });

    it('op 1 acts as op 2: the token keeps only the listed accounts; one of the same type is replaced', () => {
      const set = new BindingSet([b('t1', 'alice', 1), { ...b('t1', 'carol', 2), accountType: 1 }]);
      const { outcomes, changes } = applyBatch(
        set,
        cmd([{ op: 1, token: 't1', accounts: [acc('bob')] }]),
        tpns,
        counter(),
        NOW,
      );
      assert.deepEqual(outcomes, [{ code: 0 }]);
      assert.deepEqual(summary(changes), ['delete t1/alice replaced', 'delete t1/carol override', 'put t1/bob bind']);
      assert.deepEqual(
        set.ofToken('t1').map((x) => x.account),
        ['bob'],
      );
    });

    it('keeps one account per account_type: the later listed wins, within an element and across elements', () => {
      const set = new BindingSet();
      const { outcomes } = applyBatch(
        set,
        cmd([
          { op: 1, token: 't1', accounts: [acc('x'), acc('y'), acc('z', 5)] },
          { op: 2, token: 't2', accounts: [acc('p')] },
          { op: 1, token: 't2', accounts: [acc('q')] },
        ]),
        tpns,
        counter(),
        NOW,
      );
      assert.deepEqual(outcomes, [{ code: 0 }, { code: 0 }, { code: 0 }]);
      assert.deepEqual(
        set
          .ofToken('t1')
          .map((x) => `${x.account}/${x.accountType}`)
          .sort(),
        ['y/0', 'z/5'],
      );
      assert.deepEqual(
        set.ofToken('t2').map((x) => x.account),
        ['q'],
      );
    });

    it('under append rules the same request appends', () => {
      const set = new BindingSet([b('t1', 'alice', 1)]);
      applyBatch(
        set,
        cmd([{ op: 1, token: 't1', accounts: [acc('x'), acc('y')] }]),
        { ...tpns, bindingRules: 'append' },
        counter(),
        NOW,
      );
      assert.deepEqual(
        set
          .ofToken('t1')
          .map((x) => x.account)
          .sort(),
        ['alice', 'x', 'y'],
      );
    });
  });
});
