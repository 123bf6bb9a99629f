/**
 * Delivers webhook events from the transactional outbox: at least once, in order per app, signed,
 * retried with exponential backoff until the give-up age, with every attempt logged. Claims are
 * leases in the store, so several instances can run a deliverer each without sending an event twice
 * at the same time.
 */
import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FastifyBaseLogger } from 'fastify';
import { inwardHostProblem, outwardLookup } from '../domain/webhook-target.ts';
import type { BindingStore, DeliveryOutcome, WebhookEvent } from '../model/store.ts';
import { logRoundFailure } from './round-failure.ts';

export interface WebhookDelivererOptions {
  pollMs: number;
  retryBaseMs: number;
  giveUpMs: number;
  timeoutMs: number;
  /** Events claimed per poll (one per app at most). */
  batch?: number;
  onAttempt?: (result: 'delivered' | 'retry' | 'failed') => void;
  /** Loopback, link-local and private receivers are allowed (BINDERY_WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate?: boolean;
}

/**
 * POSTs `body` and resolves with the HTTP status (the answer's body is discarded; redirects are
 * not followed). Unless `allowPrivate`, the connection may go only to public addresses: a literal
 * address is checked here, a name on the addresses DNS gives for this very connection.
 */
function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  allowPrivate: boolean,
): Promise<number> {
  const target = new URL(url);
  const problem = allowPrivate ? null : inwardHostProblem(target);
  if (problem) return Promise.reject(new Error(problem));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(timeoutMs),
        ...(allowPrivate ? {} : { lookup: outwardLookup }),
      },
      (response) => {
        response.resume();
        response.once('end', () => resolve(response.statusCode ?? 0));
        response.once('error', reject);
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

const MAX_BACKOFF_MS = 3600_000;
export const SIGNATURE_HEADER = 'x-bindery-signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the timestamp is signed too, so a receiver can refuse
 * replays.
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function webhookBody(event: WebhookEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    app: event.accessId,
    created_at: new Date(event.createdAt).toISOString(),
    data: JSON.parse(event.payload) as unknown,
  });
}

export class WebhookDeliverer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: BindingStore,
    private readonly options: WebhookDelivererOptions,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      this.running = this.deliverDue()
        .then(() => undefined)
        .catch((error: unknown) => logRoundFailure(this.log, error, 'webhook delivery round failed; will retry'))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.timer = setTimeout(tick, this.options.pollMs);
        });
    };
    tick();
  }

  /** Stops polling and waits for the deliveries under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One round: claim the due head event of each app and deliver them side by side. */
  async deliverDue(now = Date.now()): Promise<number> {
    const leaseMs = this.options.timeoutMs * 3;
    const events = await this.store.claimWebhookEvents(now, leaseMs, this.options.batch ?? 50);
    await Promise.all(events.map((event) => this.deliver(event)));
    return events.length;
  }

  private async deliver(event: WebhookEvent): Promise<void> {
    const body = webhookBody(event);
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'bindery-webhook',
        'x-bindery-event-id': String(event.id),
        'x-bindery-event-type': event.type,
        [SIGNATURE_HEADER]: webhookSignature(event.secret, Math.floor(started / 1000), body),
      };
      status = await post(event.url, headers, body, this.options.timeoutMs, this.options.allowPrivate ?? false);
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      const name = (e as Error).name;
      error =
        name === 'TimeoutError' || name === 'AbortError'
          ? `no answer in ${this.options.timeoutMs} ms`
          : (e as Error).message;
    }
    const at = Date.now();
    const attempts = event.attempts + 1;
    let next: DeliveryOutcome['next'];
    if (error === null) next = 'delivered';
    else if (at - event.createdAt >= this.options.giveUpMs) next = 'failed';
    else {
      const backoff = Math.min(MAX_BACKOFF_MS, this.options.retryBaseMs * 2 ** (attempts - 1));
      next = at + Math.round(backoff * (0.75 + Math.random() * 0.5));
    }
    this.options.onAttempt?.(next === 'delivered' ? 'delivered' : next === 'failed' ? 'failed' : 'retry');
    if (error !== null)
      this.log.warn(
        { eventId: event.id, app: event.accessId, attempt: attempts, error, giveUp: next === 'failed' },
        'webhook delivery failed',
      );
    await this.store.completeWebhookEvent(event, { at, status, error, durationMs: at - started, next });
  }
}
