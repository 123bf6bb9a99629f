/**
 * One HTTP exchange with bindery: authentication (Basic or the TPNS signature), a timeout, and
 * retries with jittered exponential backoff on network errors, HTTP 5xx and 429 (honouring
 * Retry-After), never on other 4xx.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { BinderyError } from './errors.ts';

export interface TransportOptions {
  baseUrl: string;
  accessId: string;
  secretKey: string;
  auth: 'basic' | 'signature';
  timeoutMs: number;
  retries: number;
  retryBaseMs: number;
  fetch: typeof fetch;
}

export interface Exchange {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  contentType?: string;
  /** Send this Idempotency-Key (the same on every retry of this exchange). */
  idempotent?: boolean;
  /**
   * The answer is a stream read for as long as it lasts (an export): the timeout bounds the wait
   * for its headers and then each wait for its next chunk, not the whole body.
   */
  streamed?: boolean;
}

const RETRY_AFTER_CAP_MS = 60_000;

export function signature(secretKey: string, timestamp: string, accessId: string, body: string): string {
  const hex = createHmac('sha256', secretKey)
    .update(timestamp + accessId + body)
    .digest('hex');
  return Buffer.from(hex).toString('base64');
}

/** The header a write answer carries its commit position in, and a read sends it back in. */
const POSITION_HEADER = 'x-bindery-lsn';

/** "16/B374D848" as a number, to keep the furthest; null when it is not a position. */
function positionValue(text: string): bigint | null {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  return match ? (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`) : null;
}

export class Transport {
  /**
   * The furthest write position this client was answered: sent with every request, so that a
   * server reading from replicas shows this client its own writes, whichever instance answers.
   */
  private position: { text: string; value: bigint } | null = null;

  constructor(readonly options: TransportOptions) {}

  private remember(response: Response): void {
    const text = response.headers.get(POSITION_HEADER);
    const value = text === null ? null : positionValue(text);
    if (text !== null && value !== null && (this.position === null || value > this.position.value)) {
      this.position = { text, value };
    }
  }

  private headers(body: string): Record<string, string> {
    const { accessId, secretKey } = this.options;
    if (this.options.auth === 'basic')
      return { authorization: `Basic ${Buffer.from(`${accessId}:${secretKey}`).toString('base64')}` };
    const timestamp = String(Math.floor(Date.now() / 1000));
    return { accessid: accessId, timestamp, sign: signature(secretKey, timestamp, accessId, body) };
  }

  private delay(attempt: number, retryAfter: string | null): number {
    const seconds = retryAfter !== null ? Number(retryAfter) : NaN;
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, RETRY_AFTER_CAP_MS);
    return this.options.retryBaseMs * 2 ** attempt * (0.5 + Math.random());
  }

  /** Sends, retrying what is worth retrying; resolves with the successful (2xx) response. */
  async send(exchange: Exchange): Promise<Response> {
    const body = exchange.body ?? '';
    const idempotencyKey = exchange.idempotent ? randomUUID() : undefined;
    for (let attempt = 0; ; attempt++) {
      const deadline = new Deadline(this.options.timeoutMs, `${exchange.method} ${exchange.path}`);
      let response: Response;
      try {
        response = await this.options.fetch(this.options.baseUrl + exchange.path, {
          method: exchange.method,
          headers: {
            ...this.headers(body),
            ...(exchange.contentType ? { 'content-type': exchange.contentType } : {}),
            ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
            ...(this.position ? { [POSITION_HEADER]: this.position.text } : {}),
          },
          ...(exchange.method === 'POST' ? { body } : {}),
          signal: deadline.signal,
        });
      } catch (error) {
        if (attempt < this.options.retries) {
          await sleep(this.delay(attempt, null));
          continue;
        }
        if (error === deadline.signal.reason) throw error;
        const reason = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
        throw new BinderyError(-1, `${exchange.method} ${exchange.path}: ${reason}`, 0);
      }
      if (response.ok) {
        this.remember(response);
        return exchange.streamed ? deadline.idleBetweenChunks(response) : response;
      }
      const retryable = response.status >= 500 || response.status === 429;
      if (retryable && attempt < this.options.retries) {
        await response.body?.cancel();
        await sleep(this.delay(attempt, response.headers.get('retry-after')));
        continue;
      }
      throw await errorOf(response);
    }
  }

  async json<T>(exchange: Exchange): Promise<T> {
    const response = await this.send(exchange);
    return (await response.json()) as T;
  }
}

/**
 * The timeout of one attempt: an abort signal that fires timeoutMs after the request is sent, and
 * for a streamed answer, timeoutMs after the last chunk arrived instead.
 */
class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly what: string,
  ) {
    this.arm(`no answer in ${timeoutMs} ms`);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private arm(reason: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.controller.abort(new BinderyError(-1, `${this.what}: ${reason}`, 0));
    }, this.timeoutMs);
    this.timer.unref();
  }

  /** The same answer, its body now aborted only when no chunk comes for timeoutMs. */
  idleBetweenChunks(response: Response): Response {
    if (!response.body) {
      clearTimeout(this.timer);
      return response;
    }
    const stall = `the answer stalled: no data for ${this.timeoutMs} ms`;
    this.arm(stall);
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          this.arm(stall);
          controller.enqueue(chunk);
        },
        flush: () => clearTimeout(this.timer),
      }),
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
}

async function errorOf(response: Response): Promise<BinderyError> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { ret_code?: number; err_msg?: string };
    if (typeof body.ret_code === 'number') return new BinderyError(body.ret_code, body.err_msg ?? '', response.status);
  } catch {
    // not a bindery answer: fall through
  }
  return new BinderyError(-1, `HTTP ${response.status}: ${text.slice(0, 200)}`, response.status);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
