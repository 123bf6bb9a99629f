/**
 * Prometheus metrics (prom-client), one registry per app instance: requests by route and ret_code,
 * their latency, store call latency, webhook deliveries, and, only when asked for (they name every
 * AccessID), bindings per app (counted at most once a minute, since counting is a scan).
 * /metrics asks for a bearer token when one is configured.
 */

import { statfs } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { apiError } from '../errors.ts';
import type { AppCounts, BindingStore } from '../model/store.ts';
import { SCHEMA_VERSIONS } from '../store/schema-versions.ts';
import { VERSION } from '../version.ts';
import { bearerGuard, type FailedAuthThrottle } from './bearer-guard.ts';
import { CountedHistogram, type HistogramChild } from './counted-histogram.ts';

const RET_CODE_PREFIX = '{"ret_code":';

/** The ret_code a TPNS answer starts with ('' when it does not), read without a regular expression per answer. */
export function retCodeOf(payload: string): string {
  if (!payload.startsWith(RET_CODE_PREFIX)) return '';
  let end = RET_CODE_PREFIX.length;
  if (payload.charCodeAt(end) === 45) end++; // '-'
  const digits = end;
  while (end < payload.length && payload.charCodeAt(end) >= 48 && payload.charCodeAt(end) <= 57) end++;
  return end > digits ? payload.slice(RET_CODE_PREFIX.length, end) : '';
}

interface AnswerCounts {
  labels: { method: string; route: string; status: number; ret_code: string };
  unflushed: number;
  latency: HistogramChild;
}

const SCRAPE_WAIT_MS = 2000;

/** The value, or undefined when it failed or took longer than a scrape may wait. */
async function withinScrape<T>(work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, SCRAPE_WAIT_MS, undefined);
  });
  try {
    return await Promise.race([work.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `read`, shared by the calls of one scrape (within a second of each other). */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (last === undefined || Date.now() - last.at > 1000) last = { at: Date.now(), value: read() };
    return last.value;
  };
}

export class Metrics {
  readonly registry = new Registry();
  /** Counted per label set in register()'s children and added at each scrape. */
  readonly requests = new Counter({
    name: 'bindery_http_requests_total',
    help: 'HTTP requests answered',
    labelNames: ['method', 'route', 'status', 'ret_code'],
    registers: [this.registry],
    collect: () => this.flushRequestCounts(),
  });
  private readonly answered = new Map<string, AnswerCounts>();
  readonly latency = new CountedHistogram(
    'bindery_http_request_duration_seconds',
    'HTTP request latency',
    ['route', 'ret_code'],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    this.registry,
  );
  readonly storeLatency = new CountedHistogram(
    'bindery_store_operation_duration_seconds',
    'Store call latency',
    ['operation', 'outcome'],
    [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
    this.registry,
  );
  readonly feedback = new Counter({
    name: 'bindery_feedback_total',
    help: "Push providers' answers reported to /api/v1/feedback, by provider and class (invalid, transient, unknown)",
    labelNames: ['provider', 'class'],
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'bindery_webhook_deliveries_total',
    help: 'Webhook delivery attempts',
    labelNames: ['result'],
    registers: [this.registry],
  });

  /**
   * Scheduled backups (src/background/backup-scheduler.ts): registered only when they are on, so
   * that a server without them exports no timestamp of 0 for an alert to read as "very old".
   */
  scheduledBackups(): { succeeded: (at: number) => void; failed: () => void } {
    const last = new Gauge({
      name: 'bindery_backup_last_success_timestamp_seconds',
      help: 'When the last scheduled backup of the SQLite store was taken and checked (Unix seconds)',
      registers: [this.registry],
    });
    const failures = new Counter({
      name: 'bindery_backup_failures_total',
      help: 'Scheduled backups that failed (each is logged; serving goes on)',
      registers: [this.registry],
    });
    return { succeeded: (at) => last.set(at / 1000), failed: () => failures.inc() };
  }

  constructor(store: BindingStore, options: { processMetrics?: boolean; perApp?: boolean; dataDir?: string } = {}) {
    // What runs: a constant 1 whose labels say which release, on which Node, migrating to which schemas.
    new Gauge({
      name: 'bindery_build_info',
      help: "bindery's version, the Node it runs on, its store and the schema version it migrates each store to",
      labelNames: ['version', 'node_version', 'store', 'sqlite_schema', 'postgres_schema'],
      registers: [this.registry],
    }).set(
      {
        version: VERSION,
        node_version: process.version,
        store: store.kind,
        sqlite_schema: String(SCHEMA_VERSIONS.sqlite),
        postgres_schema: String(SCHEMA_VERSIONS.postgres),
      },
      1,
    );
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'bindery_' });
    if (options.perApp) this.bindingsPerApp(store);
    if (store.replicaStats()) this.replicaMetrics(store);
    this.operatorMetrics(store, options.dataDir);
  }

  /**
   * What the alert rules (ops/prometheus/) watch: the store answering, the webhook backlog, and the
   * disk of bindery's data directory. Measured at each scrape; a store that does not answer leaves
   * the backlog without a sample rather than failing the scrape.
   */
  private operatorMetrics(store: BindingStore, dataDir: string | undefined): void {
    const registers = [this.registry];
    new Gauge({
      name: 'bindery_store_up',
      help: '1 when the store answered a read and a write at this scrape (as /readyz asks), else 0',
      registers,
      async collect() {
        this.set((await withinScrape(store.ping().then(() => true))) ? 1 : 0);
      },
    });
    // A pair of gauges is read in parallel at a scrape: one measurement serves both.
    const backlog = oncePerScrape(() => withinScrape(store.webhookBacklog()));
    const gauge = (name: string, help: string, read: () => Promise<number | undefined>) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const value = await read();
          this.reset();
          if (value !== undefined) this.set(value);
        },
      });
    gauge(
      'bindery_webhook_pending_events',
      'Webhook events not yet delivered nor given up, all apps together',
      async () => (await backlog())?.pending,
    );
    gauge(
      'bindery_webhook_oldest_pending_age_seconds',
      'Age of the oldest webhook event not yet delivered (0 when none is pending)',
      async () => {
        const b = await backlog();
        if (b === undefined) return undefined;
        return b.oldestAt === null ? 0 : Math.max(0, (Date.now() - b.oldestAt) / 1000);
      },
    );
    if (dataDir === undefined) return;
    const disk = oncePerScrape(() => withinScrape(statfs(dataDir)));
    gauge(
      'bindery_data_disk_free_bytes',
      'Bytes free to bindery on the filesystem holding its data directory (the SQLite file, the import spool)',
      async () => {
        const d = await disk();
        return d && d.bavail * d.bsize;
      },
    );
    gauge('bindery_data_disk_size_bytes', "Size of the filesystem holding bindery's data directory", async () => {
      const d = await disk();
      return d && d.blocks * d.bsize;
    });
  }

  /** Adds the requests counted since the last scrape to the Prometheus counter. */
  private flushRequestCounts(): void {
    for (const counts of this.answered.values()) {
      if (counts.unflushed === 0) continue;
      this.requests.inc(counts.labels, counts.unflushed);
      counts.unflushed = 0;
    }
  }

  /** Read replicas: how far behind each is, and where reads went and why the primary took some. */
  private replicaMetrics(store: BindingStore): void {
    const stats = () => store.replicaStats()!;
    new Gauge({
      name: 'bindery_replica_lag_seconds',
      help: 'How old the newest primary write a replica has not replayed is (NaN when unusable)',
      labelNames: ['replica'],
      registers: [this.registry],
      collect() {
        for (const r of stats().replicas) this.set({ replica: r.name }, r.lagMs === null ? Number.NaN : r.lagMs / 1000);
      },
    });
    new Gauge({
      name: 'bindery_replica_usable',
      help: '1 when the replica is reachable and still a replica, else 0',
      labelNames: ['replica'],
      registers: [this.registry],
      collect() {
        for (const r of stats().replicas) this.set({ replica: r.name }, r.usable ? 1 : 0);
      },
    });
    // Counters the store keeps: each scrape adds what was counted since the last one.
    const seen = {
      reads: { primary: 0, replica: 0 },
      fallbacks: { lagging: 0, waited: 0, unavailable: 0, beyond: 0 },
    };
    new Counter({
      name: 'bindery_reads_total',
      help: 'Reads of bindings and history by the database that served them',
      labelNames: ['target'],
      registers: [this.registry],
      collect() {
        for (const target of ['primary', 'replica'] as const) {
          this.inc({ target }, stats().reads[target] - seen.reads[target]);
          seen.reads[target] = stats().reads[target];
        }
      },
    });
    new Counter({
      name: 'bindery_read_fallbacks_total',
      help: 'Reads the primary served although replicas are configured, by why',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        for (const reason of ['lagging', 'waited', 'unavailable', 'beyond'] as const) {
          this.inc({ reason }, stats().fallbacks[reason] - seen.fallbacks[reason]);
          seen.fallbacks[reason] = stats().fallbacks[reason];
        }
      },
    });
  }

  private bindingsPerApp(store: BindingStore): void {
    let cached: { at: number; counts: { accessId: string; counts: AppCounts }[] } | undefined;
    const counts = async () => {
      if (!cached || Date.now() - cached.at > 60_000) {
        const apps = await store.listApps();
        cached = {
          at: Date.now(),
          counts: await Promise.all(
            apps.map(async (a) => ({ accessId: a.accessId, counts: await store.countBindings(a.id) })),
          ),
        };
      }
      return cached.counts;
    };
    const perApp = (name: string, help: string, pick: (c: AppCounts) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['access_id'],
        registers: [this.registry],
        async collect() {
          const all = await counts();
          this.reset();
          for (const c of all) this.set({ access_id: c.accessId }, pick(c.counts));
        },
      });
    perApp('bindery_bindings', 'Bindings per app (refreshed at most once a minute)', (c) => c.bindings);
    perApp(
      'bindery_quarantined_tokens',
      'Quarantined tokens per app: left out of query answers (refreshed at most once a minute)',
      (c) => c.quarantined,
    );
  }

  /**
   * The store, with every call timed: a plain object whose methods are wrapped once (no Proxy and
   * no label hashing on the hot path: the label sets are bound when the wrapper is made).
   */
  instrument(store: BindingStore): BindingStore {
    // The timed methods go on a prototype of their own: added one by one to the object callers use, they
    // would turn it into a dictionary, and every store call on a request's path into a slow property look-up.
    const timed = Object.create(store) as Record<string, unknown>;
    for (
      let proto = Object.getPrototypeOf(store) as object | null;
      proto && proto !== Object.prototype;
      proto = Object.getPrototypeOf(proto) as object | null
    ) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        const method = (store as unknown as Record<string, unknown>)[name];
        if (name === 'constructor' || name === 'close' || typeof method !== 'function' || Object.hasOwn(timed, name))
          continue;
        timed[name] = this.timedMethod(store, name, method as (...args: unknown[]) => unknown);
      }
    }
    return Object.create(timed) as BindingStore;
  }

  private timedMethod(
    store: BindingStore,
    operation: string,
    method: (...args: unknown[]) => unknown,
  ): (...args: unknown[]) => unknown {
    const ok = this.storeLatency.labels({ operation, outcome: 'ok' });
    const failed = this.storeLatency.labels({ operation, outcome: 'error' });
    return (...args: unknown[]) => {
      const started = performance.now();
      const result = method.apply(store, args);
      if (!(result instanceof Promise)) {
        ok.observe((performance.now() - started) / 1000);
        return result;
      }
      return result.then(
        (value: unknown) => {
          ok.observe((performance.now() - started) / 1000);
          return value;
        },
        (error: unknown) => {
          failed.observe((performance.now() - started) / 1000);
          throw error;
        },
      );
    };
  }

  /** Counts and times every answer, labelled by route template and the TPNS ret_code it carried. */
  register(app: FastifyInstance, access: { token: string | null; throttle: FailedAuthThrottle }): void {
    // Callback-style hooks: no promise per request on the hot path.
    app.addHook('onSend', (request, _reply, payload, done) => {
      (request as { retCode?: string }).retCode = typeof payload === 'string' ? retCodeOf(payload) : '';
      done(null, payload);
    });
    // One entry per (method, route, status, ret_code), found by one string key: a request adds 1 to
    // its count and observes its latency, with no label handling.
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const retCode = (request as { retCode?: string }).retCode ?? '';
      const key = `${request.method} ${route} ${reply.statusCode} ${retCode}`;
      let counts = this.answered.get(key);
      if (counts === undefined) {
        if (this.answered.size >= 10_000) {
          this.flushRequestCounts();
          this.answered.clear();
        }
        counts = {
          labels: { method: request.method, route, status: reply.statusCode, ret_code: retCode },
          unflushed: 0,
          latency: this.latency.labels({ route, ret_code: retCode }),
        };
        this.answered.set(key, counts);
      }
      counts.unflushed++;
      counts.latency.observe(reply.elapsedTime / 1000);
      done();
    });
    const onRequest =
      access.token === null ? [] : [bearerGuard(access.token, 'metrics', access.throttle, apiError.metricsAuth)];
    app.get(
      '/metrics',
      {
        onRequest,
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (Authorization: Bearer $BINDERY_METRICS_TOKEN when set)',
        },
      },
      async (_request, reply) => {
        reply.type(this.registry.contentType);
        return this.registry.metrics();
      },
    );
  }
}
