/**
 * Deletes history past its retention, idempotency keys past 24 h, and finished webhook events past
 * the retention; and runs each app's token lifecycle: warns of expiry, quarantines tokens unseen
 * for token_ttl_days (cause expired), purges tokens quarantined for quarantine_days. The lifecycle
 * goes through the single write path, a slice of tokens per transaction, so that no write waits
 * behind a sweep for long and each step is in history and events like any change. Finding the
 * tokens to expire reads all of an app's bindings (only for apps with token_ttl_days): the price
 * of not indexing last_seen_at, which every bind moves.
 */
import type { FastifyBaseLogger } from 'fastify';
import { lifecycleCutoffs, sweepAction } from '../domain/apply-lifecycle.ts';
import { writeBatch } from '../domain/run-batch.ts';
import { AppNotFoundError } from '../errors.ts';
import { IDEMPOTENCY_WINDOW_MS } from '../model/batch-transaction.ts';
import type { LifecycleAction } from '../model/outcomes.ts';
import type { BindingStore, SweepCounts } from '../model/store.ts';
import { type Binding, DAY_MS } from '../model/types.ts';
import { logRoundFailure } from './round-failure.ts';

/** Tokens per lifecycle transaction. */
export const LIFECYCLE_SLICE = 500;
/** Purge slices per app per sweep: a backlog larger than this is worked off over the next sweeps. */
const MAX_SLICES = 200;
/** Bindings per page of the expiry scan. */
const SCAN_PAGE = 1000;

export interface LifecycleCounts {
  warned: number;
  expired: number;
  purged: number;
}

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

  async sweep(now = Date.now()): Promise<SweepCounts & LifecycleCounts> {
    const retention = now - this.options.retentionDays * DAY_MS;
    const counts = await this.store.sweep({
      historyBefore: retention,
      idempotencyBefore: now - IDEMPOTENCY_WINDOW_MS,
      webhooksBefore: retention,
    });
    if (counts.history + counts.idempotency + counts.webhooks > 0)
      this.log.info({ swept: counts }, 'swept old records');
    const lifecycle = await this.sweepLifecycle(now);
    return { ...counts, ...lifecycle };
  }

  /** Every app's due tokens, a slice at a time. */
  async sweepLifecycle(now: number): Promise<LifecycleCounts> {
    const total: LifecycleCounts = { warned: 0, expired: 0, purged: 0 };
    for (const app of await this.store.listApps()) {
      const counts: LifecycleCounts = { warned: 0, expired: 0, purged: 0 };
      const sweep = async (purgeLimit: number, tokens: string[]) => {
        const result = await writeBatch(this.store, app.id, { kind: 'sweep', now, purgeLimit, tokens }).catch(
          (error: unknown) => {
            if (error instanceof AppNotFoundError) return undefined; // deleted meanwhile
            throw error;
          },
        );
        for (const { action } of result?.outcomes ?? []) if (isCounted(action)) counts[action]++;
        return result?.outcomes.length ?? 0;
      };
      // The purge: the store's index of quarantined bindings finds them, a slice per transaction.
      for (let slice = 0; slice < MAX_SLICES && (await sweep(LIFECYCLE_SLICE, [])) > 0; slice++);
      // Expiry: last_seen_at is not indexed (every bind moves it), so one snapshot read of the app.
      if (app.policy.tokenTtlDays !== null) {
        const cut = lifecycleCutoffs(app.policy, now);
        let due: string[] = [];
        for await (const tokens of this.tokensOf(app.id)) {
          if (sweepAction(tokens, cut) !== 'none') due.push(tokens[0]!.token);
          if (due.length >= LIFECYCLE_SLICE) {
            await sweep(0, due);
            due = [];
          }
        }
        if (due.length > 0) await sweep(0, due);
      }
      if (counts.warned + counts.expired + counts.purged > 0)
        this.log.info({ accessId: app.accessId, lifecycle: counts }, 'token lifecycle: warned, expired, purged');
      total.warned += counts.warned;
      total.expired += counts.expired;
      total.purged += counts.purged;
    }
    return total;
  }

  /** The app's bindings token by token (an export is in token order), as one snapshot. */
  private async *tokensOf(appId: number): AsyncGenerator<Binding[]> {
    let current: Binding[] = [];
    for await (const page of this.store.exportBindings(appId, SCAN_PAGE)) {
      for (const binding of page) {
        if (current.length > 0 && current[0]!.token !== binding.token) {
          yield current;
          current = [];
        }
        current.push(binding);
      }
    }
    if (current.length > 0) yield current;
  }
}

const isCounted = (action: LifecycleAction | undefined): action is keyof LifecycleCounts =>
  action === 'warned' || action === 'expired' || action === 'purged';
