import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommitQueue, type GroupScheduler } from '../../src/store/group-commit.ts';

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
