/**
 * Prometheus metrics (prom-client), one registry per app instance: requests by route and ret_code,
 * their latency, store call latency, webhook deliveries, and bindings per app (counted at most
 * once a minute, since counting is a scan).
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BindingStore } from '../store/store.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'bindery_http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status', 'ret_code'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'bindery_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['route', 'ret_code'], registers: [this.registry],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  readonly storeLatency = new Histogram({
    name: 'bindery_store_operation_duration_seconds', help: 'Store call latency', labelNames: ['operation', 'outcome'], registers: [this.registry],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
  });
  readonly webhookDeliveries = new Counter({ name: 'bindery_webhook_deliveries_total', help: 'Webhook delivery attempts', labelNames: ['result'], registers: [this.registry] });

  constructor(store: BindingStore, options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'bindery_' });
    let cached: { at: number; counts: { accessId: string; bindings: number }[] } | undefined;
    new Gauge({
      name: 'bindery_bindings', help: 'Bindings per app (refreshed at most once a minute)', labelNames: ['access_id'], registers: [this.registry],
      async collect() {
        if (!cached || Date.now() - cached.at > 60_000) {
          const apps = await store.listApps();
          cached = { at: Date.now(), counts: await Promise.all(apps.map(async (a) => ({ accessId: a.accessId, bindings: (await store.countBindings(a.id)).bindings }))) };
        }
        this.reset();
        for (const c of cached.counts) this.set({ access_id: c.accessId }, c.bindings);
      },
    });
  }

  /** The store, with every call timed (each method wrapped once, not on every call). */
  instrument(store: BindingStore): BindingStore {
    const histogram = this.storeLatency;
    const wrapped = new Map<PropertyKey, unknown>();
    const timed = (operation: string, method: (...a: unknown[]) => unknown) => (...args: unknown[]) => {
      const end = histogram.startTimer({ operation });
      const result = method.apply(store, args);
      if (result instanceof Promise) {
        return result.then(
          (v) => (end({ outcome: 'ok' }), v),
          (e: unknown) => {
            end({ outcome: 'error' });
            throw e;
          },
        );
      }
      end({ outcome: 'ok' });
      return result;
    };
    return new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function' || property === 'close') return value;
        let wrapper = wrapped.get(property);
        if (wrapper === undefined) wrapped.set(property, (wrapper = timed(String(property), value as (...a: unknown[]) => unknown)));
        return wrapper;
      },
    });
  }

  /** Counts and times every answer, labelled by route template and the TPNS ret_code it carried. */
  register(app: FastifyInstance): void {
    // Callback-style hooks: no promise per request on the hot path.
    app.addHook('onSend', (request, _reply, payload, done) => {
      const match = typeof payload === 'string' ? /^\{"ret_code":(-?\d+)/.exec(payload) : null;
      (request as { retCode?: string }).retCode = match?.[1] ?? '';
      done(null, payload);
    });
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const retCode = (request as { retCode?: string }).retCode ?? '';
      this.requests.inc({ method: request.method, route, status: reply.statusCode, ret_code: retCode });
      this.latency.observe({ route, ret_code: retCode }, reply.elapsedTime / 1000);
      done();
    });
    app.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
      reply.type(this.registry.contentType);
      return this.registry.metrics();
    });
  }
}
