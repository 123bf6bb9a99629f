import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImportPipeline } from '../../src/domain/import-pipeline.ts';
import { asBound, type Binding } from '../../src/model/types.ts';

const binding = (token: string): Binding =>
  asBound({ token, account: 'alice', accountType: 0, platform: null, boundAt: 1 });

/** A store stand-in whose writes finish only when the test says so, recording the order of events. */
function controlledWrites() {
  const events: string[] = [];
  const pending = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const write = (batch: Binding[]) => {
    const name = batch.map((b) => b.token).join(',');
    events.push(`start ${name}`);
    return new Promise<void>((resolve, reject) =>
      pending.set(name, {
        resolve: () => {
          events.push(`done ${name}`);
          resolve();
        },
        reject,
      }),
    );
  };
  return { events, pending, write };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ImportPipeline', () => {
  it('keeps at most `depth` batches in flight and counts what was committed', async () => {
    const { events, pending, write } = controlledWrites();
    const writes = new ImportPipeline(write, (e) => e as Error, 2);
    await writes.add([binding('a')]);
    await writes.add([binding('b')]);
    const third = writes.add([binding('c')]);
    await tick();
    assert.deepEqual(events, ['start a', 'start b'], 'the third waits while two are in flight');
    pending.get('b')!.resolve();
    await third;
    assert.deepEqual(events, ['start a', 'start b', 'done b', 'start c']);
    pending.get('a')!.resolve();
    pending.get('c')!.resolve();
    assert.equal(await writes.finish(), 3);
  });

  it('holds back a batch that shares a binding with one in flight, so the later line wins', async () => {
    const { events, pending, write } = controlledWrites();
    const writes = new ImportPipeline(write, (e) => e as Error, 2);
    await writes.add([binding('a'), binding('x')]);
    const second = writes.add([binding('x'), binding('b')]);
    await tick();
    assert.deepEqual(events, ['start a,x'], 'x is in both: the second batch must not start first');
    pending.get('a,x')!.resolve();
    await second;
    assert.deepEqual(events, ['start a,x', 'done a,x', 'start x,b']);
    pending.get('x,b')!.resolve();
    assert.equal(await writes.finish(), 4);
  });

  it('reports a store failure at the next step, as the error the import answers with', async () => {
    const { pending, write } = controlledWrites();
    const writes = new ImportPipeline(
      write,
      (error, imported) => new Error(`failed after ${imported}: ${(error as Error).message}`),
      1,
    );
    await writes.add([binding('a')]);
    pending.get('a')!.resolve();
    await writes.add([binding('b')]);
    pending.get('b')!.reject(new Error('disk full'));
    await assert.rejects(writes.add([binding('c')]), /failed after 1: disk full/);
    await assert.rejects(writes.finish(), /failed after 1: disk full/);
  });
});
