/**
 * A Prometheus histogram counted in place: each label set gets its bucket counts once, and an
 * observation is a bucket search and three additions. prom-client's own Histogram converts,
 * validates and hashes the labels at every observe, which is most of what metrics cost a request
 * (BENCHMARKS.md). prom-client still holds the registry and writes the exposition, from
 * the same values and labels its Histogram would give it.
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string | number>;

export interface HistogramChild {
  observe(value: number): void;
}

interface Counts {
  labels: Labels;
  buckets: Float64Array;
  sum: number;
  count: number;
}

interface ValuePair {
  labels: Labels;
  sharedLabels: Labels;
  value: number;
  metricName: string;
}

export class CountedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts = new Map<string, Counts>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly upperBounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The counts of one label set, made on first use: keep it and observe into it. */
  labels(labels: Labels): HistogramChild {
    const key = this.labelNames.map((name) => String(labels[name] ?? '')).join('\u0000');
    let counts = this.counts.get(key);
    if (!counts) {
      counts = { labels: { ...labels }, buckets: new Float64Array(this.upperBounds.length), sum: 0, count: 0 };
      this.counts.set(key, counts);
    }
    const bounds = this.upperBounds;
    const held = counts;
    return {
      observe(value: number) {
        if (!Number.isFinite(value)) return;
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        if (i < bounds.length) held.buckets[i]!++;
        held.sum += value;
        held.count++;
      },
    };
  }

  reset(): void {
    this.counts.clear();
  }

  /** What prom-client's registry writes out: cumulative buckets, +Inf, sum and count per label set. */
  getForPromString() {
    const name = this.name;
    const values: ValuePair[] = [];
    for (const { labels, buckets, sum, count } of this.counts.values()) {
      let running = 0;
      this.upperBounds.forEach((le, i) => {
        running += buckets[i]!;
        values.push({ labels: { le }, sharedLabels: labels, value: running, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: labels, value: count, metricName: `${name}_bucket` });
      values.push({ labels: {}, sharedLabels: labels, value: sum, metricName: `${name}_sum` });
      values.push({ labels: {}, sharedLabels: labels, value: count, metricName: `${name}_count` });
    }
    return { name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same, labels merged (prom-client's JSON form). */
  get() {
    const data = this.getForPromString();
    return {
      ...data,
      values: data.values.map((v) => ({
        labels: { ...v.sharedLabels, ...v.labels },
        value: v.value,
        metricName: v.metricName,
      })),
    };
  }
}
