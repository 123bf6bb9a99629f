import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type FairShare,
  GroupCommitQueue,
  type GroupScheduler,
  inTurns,
  lightOnes,
} from '../../src/store/group-commit.ts';

/** Commands are key names; two conflict when they are the same key. */
const sameKey: GroupScheduler<string> = {
  pick(waiting, inFlight) {
    const busy = new Set([...inFlight].flat());
    const picked: number[] = [];
    waiting.forEach((key, i) => {
      if (!busy.has(key)) picked.push(i);
      else busy.add(key);
    });
    return picked;
  },
};

/** A queue whose groups commit when the test says so. */
function controlledQueue(groups: number) {
  const committed: string[][] = [];
  const open: { group: string[]; commit: () => void }[] = [];
  const queue = new GroupCommitQueue<string, string>(
    (group) =>
      new Promise((resolve) => {
        open.push({
          group,
          commit: () => {
            committed.push(group);
            resolve(group.map((value) => ({ ok: true, value })));
          },
        });
      }),
    512,
    { groups, scheduler: sameKey },
  );
  const release = async (group: string[]) => {
    const i = open.findIndex((o) => o.group.join() === group.join());
    assert.ok(i >= 0, `group ${group} is in flight (in flight: ${open.map((o) => o.group.join(' '))})`);
    open.splice(i, 1)[0]!.commit();
    await new Promise((resolve) => setImmediate(resolve));
  };
  const inFlight = () => open.map((o) => o.group);
  return { queue, committed, release, inFlight };
}

describe('GroupCommitQueue with several groups in flight', () => {
  it('starts groups side by side, and holds back a command that conflicts with one in flight', async () => {
    const { queue, release, inFlight } = controlledQueue(2);
    const answers = ['a', 'b', 'a', 'c', 'b'].map((key) => queue.submit(key));
    // a and b are in flight; the second a conflicts with the first, so it waits, and so does the
    // second b behind the first: c alone may go, but both flushes are busy.
    assert.deepEqual(inFlight(), [['a'], ['b']]);
    await release(['a']);
    assert.deepEqual(inFlight(), [['b'], ['a', 'c']], 'the second a went once the first had committed');
    await release(['b']);
    assert.deepEqual(inFlight(), [['a', 'c'], ['b']]);
    await release(['a', 'c']);
    await release(['b']);
    assert.deepEqual(await Promise.all(answers), ['a', 'b', 'a', 'c', 'b']);
    await queue.drain();
  });

  it('keeps the order of conflicting commands, and lets one that conflicts with nothing go ahead', async () => {
    const { queue, committed, release, inFlight } = controlledQueue(3);
    const answers = ['x', 'y', 'x', 'x', 'z'].map((key) => queue.submit(key));
    assert.deepEqual(inFlight(), [['x'], ['y'], ['z']], 'both later x wait for the first; z goes ahead');
    await release(['x']);
    assert.deepEqual(inFlight(), [['y'], ['z'], ['x', 'x']]);
    await release(['z']);
    await release(['x', 'x']);
    await release(['y']);
    assert.deepEqual(committed, [['x'], ['z'], ['x', 'x'], ['y']]);
    assert.deepEqual(await Promise.all(answers), ['x', 'y', 'x', 'x', 'z']);
  });

  it('with one group in flight, takes everything waiting, in order', async () => {
    const { queue, committed, release } = controlledQueue(1);
    const answers = ['a', 'a', 'b'].map((key) => queue.submit(key));
    await release(['a']);
    await release(['a', 'b']);
    assert.deepEqual(committed, [['a'], ['a', 'b']]);
    await Promise.all(answers);
  });
});

describe('GroupCommitQueue in fair shares', () => {
  /** Commands are "app:weight:n" strings. */
  const share: FairShare<string> = {
    tenantOf: (c) => c.split(':')[0]!,
    weightOf: (c) => Number(c.split(':')[1]),
    budget: 800,
  };

  /** A one-group queue (as SQLite's) whose groups commit when the test says so; `fair`: with the share. */
  function sharedQueue(fair: boolean) {
    const groups: string[][] = [];
    let commitNext: (() => void) | undefined;
    const queue = new GroupCommitQueue<string, string>(
      (group) =>
        new Promise((resolve) => {
          groups.push(group);
          commitNext = () => resolve(group.map((value) => ({ ok: true, value })));
        }),
      512,
      undefined,
      fair ? share : undefined,
    );
    const commit = async () => {
      commitNext!();
      await new Promise((resolve) => setImmediate(resolve));
    };
    return { queue, groups, commit };
  }

  it("puts another app's write in a short group of its own, not behind a flood's backlog", async () => {
    for (const fair of [true, false]) {
      const { queue, groups, commit } = sharedQueue(fair);
      const answers = [queue.submit('A:100:0')];
      // While A's first group commits, A's clients send 30 more batches, then B one small write.
      for (let i = 1; i <= 30; i++) answers.push(queue.submit(`A:100:${i}`));
      answers.push(queue.submit('B:5:0'));
      await commit();
      if (!fair) {
        // The control: in arrival order, B's write waits in a group with all of A's backlog.
        assert.equal(groups[1]!.length, 31);
        assert.ok(groups[1]!.includes('B:5:0'));
        await commit();
        await Promise.all(answers);
        continue;
      }
      assert.deepEqual(groups[1], ['B:5:0'], 'the light app goes alone, next');
      await commit();
      // Then A's backlog, in its order, at most the budget (8 of 100) per group.
      assert.deepEqual(
        groups[2],
        Array.from({ length: 8 }, (_, i) => `A:100:${i + 1}`),
      );
      while (groups.length < 6) await commit();
      await commit();
      assert.deepEqual(
        groups.slice(2).flat(),
        Array.from({ length: 30 }, (_, i) => `A:100:${i + 1}`),
      );
      assert.equal((await Promise.all(answers)).length, 32);
    }
  });

  it('takes apps in turns, each in its order, up to the budget; light apps apart only beside a heavy one', () => {
    const commands = ['A:300:0', 'A:300:1', 'B:100:0', 'C:50:0', 'B:100:1', 'A:300:2', 'C:50:1'];
    const all = commands.map((_, i) => i);
    // Turn one: A0, B0, C0 (450); turn two: A1 (750), B1 would pass 800 and so would A2; C1 fits.
    assert.deepEqual(
      inTurns(commands, all, share, 512).map((i) => commands[i]),
      ['A:300:0', 'B:100:0', 'C:50:0', 'A:300:1', 'C:50:1'],
    );
    assert.deepEqual(inTurns(commands, all, share, 2).length, 2, 'at most the group size');
    assert.deepEqual(inTurns(['A:5000:0'], [0], share, 512), [0], 'a command over the budget goes alone');
    // B and C are light (at most 100 waiting), A heavy: the light ones form a group of their own...
    assert.deepEqual(lightOnes(['A:300:0', 'B:100:0', 'C:50:0'], [0, 1, 2], share), [1, 2]);
    // ...but only when a heavy one waits too.
    assert.equal(lightOnes(['B:100:0', 'C:50:0'], [0, 1], share), null);
  });

  it('after a light group, the next takes every app in turns (a stream of light writes cannot hold a heavy app back)', async () => {
    const { queue, groups, commit } = sharedQueue(true);
    const answers = [queue.submit('B:5:0')];
    answers.push(queue.submit('A:300:0'), queue.submit('B:5:1'));
    await commit(); // B:5:0 alone (it came first, with nothing in flight)
    assert.deepEqual(groups[1], ['B:5:1'], 'the light write first');
    answers.push(queue.submit('B:5:2'));
    await commit();
    assert.deepEqual(groups[2], ['A:300:0', 'B:5:2'], 'then everyone in turns, A included');
    await commit();
    await Promise.all(answers);
  });
});
