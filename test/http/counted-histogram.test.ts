import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { CountedHistogram } from '../../src/http/counted-histogram.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
// On a bound (le is inclusive), between bounds, below the first, above the last.
const OBSERVED: [Record<string, string>, number][] = [
  [{ route: '/a', ret_code: '0' }, 0.001],
  [{ route: '/a', ret_code: '0' }, 0.0004],
  [{ route: '/a', ret_code: '0' }, 0.05],
  [{ route: '/a', ret_code: '0' }, 7],
  [{ route: '/b', ret_code: '1008001' }, 0.1],
  [{ route: '/b', ret_code: '1008001' }, 0.2],
  [{ route: '/a', ret_code: '0' }, 1],
];

describe('CountedHistogram', () => {
  it('writes what prom-client’s Histogram writes for the same observations', async () => {
    const reference = new Registry();
    const theirs = new Histogram({
      name: 'h_seconds',
      help: 'latency',
      labelNames: ['route', 'ret_code'],
      buckets: BUCKETS,
      registers: [reference],
    });
    const counted = new Registry();
    const ours = new CountedHistogram('h_seconds', 'latency', ['route', 'ret_code'], BUCKETS, counted);
    for (const [labels, value] of OBSERVED) {
      theirs.labels(labels).observe(value);
      ours.labels(labels).observe(value);
    }
    assert.equal(await counted.metrics(), await reference.metrics());
    // The JSON form too, but for the exemplar field prom-client adds (null: exemplars are off).
    const withoutExemplars = (metrics: { values: { exemplar?: unknown }[] }[]) =>
      metrics.map((m) => ({ ...m, values: m.values.map(({ exemplar: _, ...value }) => value) }));
    assert.deepEqual(
      await counted.getMetricsAsJSON(),
      withoutExemplars((await reference.getMetricsAsJSON()) as { values: { exemplar?: unknown }[] }[]),
    );
  });

  it('keeps one set of counts per label set, however often its child is asked for', async () => {
    const registry = new Registry();
    const ours = new CountedHistogram('h_seconds', 'latency', ['route'], BUCKETS, registry);
    ours.labels({ route: '/a' }).observe(0.5);
    ours.labels({ route: '/a' }).observe(0.5);
    const text = await registry.metrics();
    assert.match(text, /h_seconds_count\{route="\/a"\} 2/);
    assert.match(text, /h_seconds_sum\{route="\/a"\} 1/);
    assert.match(text, /h_seconds_bucket\{le="0\.1",route="\/a"\} 0/);
    assert.match(text, /h_seconds_bucket\{le="1",route="\/a"\} 2/);
    ours.reset();
    assert.doesNotMatch(await registry.metrics(), /route="\/a"/);
  });
});
