/** Deletes history past its retention, idempotency keys past 24 h, and finished webhook events past the retention. */
import type { FastifyBaseLogger } from 'fastify';
import { type BindingStore, IDEMPOTENCY_WINDOW_MS, type SweepCounts } from '../store/store.ts';
import { logRoundFailure } from './round-failure.ts';

const DAY_MS = 86_400_000;

export class Sweeper {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: BindingStore,
    private readonly options: { intervalMs: number; retentionDays: number },
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    const run = () => {
      this.sweep().catch((error: unknown) => logRoundFailure(this.log, error, 'sweep failed; will try again'));
    };
    run();
    this.timer = setInterval(run, this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(now = Date.now()): Promise<SweepCounts> {
    const retention = now - this.options.retentionDays * DAY_MS;
    const counts = await this.store.sweep({
      historyBefore: retention,
      idempotencyBefore: now - IDEMPOTENCY_WINDOW_MS,
      webhooksBefore: retention,
    });
    if (counts.history + counts.idempotency + counts.webhooks > 0)
      this.log.info({ swept: counts }, 'swept old records');
    return counts;
  }
}
