/**
 * The typed client of bindery (and of any TPNS Account API v3 server for the TPNS calls).
 * It imports nothing from the server: only fetch and node:crypto.
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { BinderyError, RetCode } from './errors.ts';
import { REGIONS, type RegionName } from './regions.ts';
import { mergeBatch, mergeQuery, splitBatch, splitQuery } from './split.ts';
import { Transport } from './transport.ts';
import type {
  AccountInfo,
  AccountRef,
  BatchoperateRequest,
  BatchoperateResponse,
  BindingRecord,
  FeedbackItem,
  FeedbackResponse,
  HistoryEntry,
  HistoryFilter,
  HistoryPage,
  ImportSummary,
  Platform,
  QueryRequest,
  QueryResponse,
  RestoreResponse,
  SeenResponse,
  TokenInfo,
  TpnsStatus,
} from './types.ts';

export interface BinderyClientOptions {
  /** A base URL such as http://127.0.0.1:8080, or use `region`. */
  baseUrl?: string;
  /** A TPNS access point by name (guangzhou, shanghai, hongkong, singapore). */
  region?: RegionName;
  accessId: string;
  secretKey: string;
  /** Basic (default) or the TPNS AccessId/TimeStamp/Sign signature. */
  auth?: 'basic' | 'signature';
  /**
   * Per attempt; default 10 s. For an export, it bounds the wait for the answer and then each
   * wait for more of it, so an export of any size runs to its end while data keeps coming.
   */
  timeoutMs?: number;
  /** Retries after the first attempt on network errors, 5xx and 429; default 3. */
  retries?: number;
  /** First backoff; it doubles per retry, with jitter. Default 200 ms. */
  retryBaseMs?: number;
  fetch?: typeof fetch;
}

export interface ImportOptions {
  /** Lines per request; default 10,000. */
  chunkSize?: number;
  /** Called after every request with the lines sent so far. */
  onProgress?: (sent: number) => void;
}

const toRef = (account: string | AccountRef): AccountRef => (typeof account === 'string' ? { account } : account);

export interface ReadOptions {
  /** Show quarantined tokens too (each binding carries its state and reason). */
  includeQuarantined?: boolean;
}

/** Items per feedback or seen request: the server's limit. */
const LIFECYCLE_CHUNK = 1000;

/** Per-item answers of several requests as one: the codes in order, the worst status. */
function mergeStatus(parts: (TpnsStatus & { result: string[] })[]): TpnsStatus & { result: string[] } {
  const result = parts.flatMap((p) => p.result);
  const failed = result.filter((code) => code !== '0').length;
  const retCode = failed === 0 ? RetCode.OK : failed === result.length ? RetCode.ALL_FAILED : RetCode.SOME_FAILED;
  const messages = parts.filter((p) => p.ret_code !== 0).map((p) => p.err_msg);
  const errMsg = retCode === RetCode.OK ? 'ok' : messages.join('; ');
  return { ret_code: retCode, err_msg: errMsg, retCode, errMsg, result };
}

export class BinderyClient {
  private readonly transport: Transport;

  constructor(options: BinderyClientOptions) {
    const baseUrl = options.baseUrl ?? (options.region ? REGIONS[options.region] : undefined);
    if (!baseUrl) throw new Error('BinderyClient: give baseUrl or region');
    if (options.region && !(options.region in REGIONS))
      throw new Error(`BinderyClient: unknown region ${options.region}; use ${Object.keys(REGIONS).join(', ')}`);
    this.transport = new Transport({
      baseUrl: baseUrl.replace(/\/+$/, ''),
      accessId: options.accessId,
      secretKey: options.secretKey,
      auth: options.auth ?? 'basic',
      timeoutMs: options.timeoutMs ?? 10_000,
      retries: options.retries ?? 3,
      retryBaseMs: options.retryBaseMs ?? 200,
      fetch: options.fetch ?? globalThis.fetch,
    });
  }

  /**
   * POST /v3/device/account/batchoperate. Larger requests are split (20 token_accounts, 100 tokens or
   * accounts per call) and sent in order; `result` comes back in request order. Element failures are
   * in the answer (ret_code SOME_FAILED or ALL_FAILED); a whole-request failure throws a BinderyError.
   */
  async batchoperate(request: BatchoperateRequest): Promise<BatchoperateResponse> {
    const parts: BatchoperateResponse[] = [];
    for (const part of splitBatch(request)) {
      try {
        // The Idempotency-Key makes a retried part apply once.
        parts.push(
          await this.transport.json<BatchoperateResponse>({
            method: 'POST',
            path: '/v3/device/account/batchoperate',
            body: JSON.stringify(part),
            idempotent: true,
          }),
        );
      } catch (error) {
        if (error instanceof BinderyError && parts.length > 0)
          throw new BinderyError(error.retCode, error.errMsg, error.httpStatus, parts.length);
        throw error;
      }
    }
    return mergeBatch(parts);
  }

  /** POST /v3/device/account/query, split into parts of 100 and merged in request order. */
  async query(request: QueryRequest): Promise<QueryResponse> {
    const parts: QueryResponse[] = [];
    for (const part of splitQuery(request)) {
      parts.push(
        await this.transport.json<QueryResponse>({
          method: 'POST',
          path: '/v3/device/account/query',
          body: JSON.stringify(part),
        }),
      );
    }
    return mergeQuery(parts);
  }

  /** A device logs in: bind it to the account; `exclusive` makes the account its only one. */
  async login(
    token: string,
    account: string | AccountRef,
    options: { exclusive?: boolean; platform?: Platform } = {},
  ): Promise<BatchoperateResponse> {
    return this.batchoperate({
      operator_type: options.exclusive ? 2 : 1,
      ...(options.platform ? { platform: options.platform } : {}),
      token_accounts: [{ token, account_list: [toRef(account)] }],
    });
  }

  /** A device logs out: forget it (unbind it from every account). */
  async logout(token: string): Promise<BatchoperateResponse> {
    return this.batchoperate({ operator_type: 4, token_list: [token] });
  }

  /** The account's devices, oldest bind first (the last is the most recent). */
  async devicesOf(account: string | AccountRef): Promise<string[]> {
    const answer = await this.query({ operator_type: 1, account_list: [toRef(account)] });
    return answer.account_tokens?.[0]?.token_list ?? [];
  }

  /** The accounts logged in on a device, oldest bind first. */
  async accountsOf(token: string): Promise<Required<AccountRef>[]> {
    const answer = await this.query({ operator_type: 2, token_list: [token] });
    return answer.token_accounts?.[0]?.account_list ?? [];
  }

  /** GET /api/v1/accounts/{account}/tokens: tokens with platform, bound_at, last_seen_at and state. */
  async accountTokens(account: string, accountType = 0, options: ReadOptions = {}): Promise<TokenInfo[]> {
    const include = options.includeQuarantined ? '&include=quarantined' : '';
    const path = `/api/v1/accounts/${encodeURIComponent(account)}/tokens?account_type=${accountType}${include}`;
    return (await this.transport.json<{ tokens: TokenInfo[] }>({ method: 'GET', path })).tokens;
  }

  /** GET /api/v1/tokens/{token}/accounts: accounts with platform, bound_at, last_seen_at and state. */
  async tokenAccounts(token: string, options: ReadOptions = {}): Promise<AccountInfo[]> {
    const include = options.includeQuarantined ? '?include=quarantined' : '';
    return (
      await this.transport.json<{ accounts: AccountInfo[] }>({
        method: 'GET',
        path: `/api/v1/tokens/${encodeURIComponent(token)}/accounts${include}`,
      })
    ).accounts;
  }

  /**
   * POST /api/v1/feedback: push providers' answers as they come; dead tokens are quarantined.
   * Sent 1,000 items per request, in order; `result` and `outcomes` come back in item order.
   */
  async reportFeedback(items: FeedbackItem[]): Promise<FeedbackResponse> {
    const parts: FeedbackResponse[] = [];
    for (let i = 0; i < items.length || i === 0; i += LIFECYCLE_CHUNK) {
      parts.push(
        await this.transport.json<FeedbackResponse>({
          method: 'POST',
          path: '/api/v1/feedback',
          body: JSON.stringify({ items: items.slice(i, i + LIFECYCLE_CHUNK) }),
          idempotent: true,
        }),
      );
    }
    return { ...mergeStatus(parts), outcomes: parts.flatMap((p) => p.outcomes) };
  }

  /** POST /api/v1/tokens/seen: these tokens are active now (their last_seen_at), 1,000 per request. */
  async markSeen(tokens: string[]): Promise<SeenResponse> {
    const parts: SeenResponse[] = [];
    for (let i = 0; i < tokens.length || i === 0; i += LIFECYCLE_CHUNK) {
      parts.push(
        await this.transport.json<SeenResponse>({
          method: 'POST',
          path: '/api/v1/tokens/seen',
          body: JSON.stringify({ tokens: tokens.slice(i, i + LIFECYCLE_CHUNK) }),
          idempotent: true,
        }),
      );
    }
    return { ...mergeStatus(parts), outcomes: parts.flatMap((p) => p.outcomes) };
  }

  /** POST /api/v1/tokens/{token}/restore: lift its quarantine. Throws a BinderyError (10110008) for an unknown token. */
  async restore(token: string): Promise<RestoreResponse> {
    return this.transport.json<RestoreResponse>({
      method: 'POST',
      path: `/api/v1/tokens/${encodeURIComponent(token)}/restore`,
      idempotent: true,
    });
  }

  /** One page of GET /api/v1/history. */
  async history(filter: HistoryFilter & { limit?: number; cursor?: string } = {}): Promise<HistoryPage> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined) query.set(key, String(value));
    const page = await this.transport.json<HistoryPage>({ method: 'GET', path: `/api/v1/history?${query}` });
    return { entries: page.entries, next_cursor: page.next_cursor };
  }

  /** Every history entry matching the filter, newest first, fetching pages as it goes. */
  async *historyAll(filter: HistoryFilter = {}): AsyncGenerator<HistoryEntry> {
    for (let cursor: string | undefined; ; ) {
      const page = await this.history({ ...filter, limit: 500, ...(cursor ? { cursor } : {}) });
      yield* page.entries;
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  /**
   * All of the app's bindings in token order, streamed (GET /api/v1/export); with `fromToken`,
   * from that token's bindings on. An export that does not reach its end throws a BinderyError
   * once the bindings before the break are yielded: the server's last line when it ended the
   * export (BINDERY_EXPORT_MAX_MS, 1008028; the store failing, 1008004), or -1 when the answer
   * broke off. Go on with `fromToken` set to the last token yielded (its bindings come again).
   */
  async *exportBindings(options: { fromToken?: string } = {}): AsyncGenerator<BindingRecord> {
    const query = options.fromToken === undefined ? '' : `?from_token=${encodeURIComponent(options.fromToken)}`;
    const path = `/api/v1/export${query}`;
    const response = await this.transport.send({ method: 'GET', path, streamed: true });
    if (!response.body) return;
    const lines = createInterface({
      input: Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>),
      crlfDelay: Infinity,
    });
    let count = 0;
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        const record = JSON.parse(line) as BindingRecord | { ret_code: number; err_msg: string };
        if ('ret_code' in record) throw new BinderyError(record.ret_code, record.err_msg, response.status);
        count++;
        yield record;
      }
    } catch (error) {
      if (error instanceof BinderyError) throw error;
      const cause = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
      throw new BinderyError(
        -1,
        `GET ${path}: the answer broke off after ${count} bindings (${cause}); export again, or go on from the last token`,
        0,
      );
    }
  }

  /** Sends bindings to POST /api/v1/import in chunks; each chunk is applied in transactions and safe to retry. */
  async importBindings(
    records: Iterable<BindingRecord> | AsyncIterable<BindingRecord>,
    options: ImportOptions = {},
  ): Promise<ImportSummary> {
    return this.importLines(jsonLines(records), options);
  }

  /**
   * Sends NDJSON lines as they are (the server reports a line that is not JSON by its number).
   * Line numbers in the summary count every line given, empty ones included, from 1.
   */
  async importLines(
    lines: Iterable<string> | AsyncIterable<string>,
    options: ImportOptions = {},
  ): Promise<ImportSummary> {
    const chunkSize = options.chunkSize ?? 10_000;
    const summary: ImportSummary = { imported: 0, failed: 0, replaced: 0, superseded: 0, errors: [] };
    let sent = 0;
    let chunk: string[] = [];
    const flush = async () => {
      if (chunk.length === 0) return;
      const body = `${chunk.join('\n')}\n`;
      if (body.trim() !== '') {
        const answer = await this.transport.json<ImportSummary>({
          method: 'POST',
          path: '/api/v1/import',
          body,
          contentType: 'application/x-ndjson',
          idempotent: true,
        });
        summary.imported += answer.imported;
        summary.failed += answer.failed;
        // A server before 0.2.0 does not answer these.
        summary.replaced += answer.replaced ?? 0;
        summary.superseded += answer.superseded ?? 0;
        for (const e of answer.errors)
          summary.errors.push({
            line: e.line + sent,
            err_msg: e.err_msg.replace(/^line \d+: /, `line ${e.line + sent}: `),
          });
      }
      sent += chunk.length;
      chunk = [];
      options.onProgress?.(sent);
    };
    for await (const line of lines) {
      chunk.push(line);
      if (chunk.length >= chunkSize) await flush();
    }
    await flush();
    return summary;
  }
}

async function* jsonLines(records: Iterable<BindingRecord> | AsyncIterable<BindingRecord>): AsyncGenerator<string> {
  for await (const record of records) yield JSON.stringify(record);
}
