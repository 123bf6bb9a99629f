/**
 * Load for fault tests: N clients each sending op-1 batches of fresh bindings to a real server, one
 * after another, recording every answer (when it was sent, when it came, what it said). Each
 * binding is its own token and account, so no cap ever evicts one: every acknowledged binding must
 * be found afterwards.
 */
const BATCH = '/v3/device/account/batchoperate';
const QUERY = '/v3/device/account/query';

export interface Answer {
  client: number;
  /** The server it was sent to. */
  url: string;
  tokens: string[];
  started: number;
  ended: number;
  /** HTTP status; 0 when no answer came at all (connection refused or the client gave up). */
  status: number;
  retCode: number | null;
  /** The answer's err_msg, when it had one. */
  message?: string;
}

export const accountOf = (token: string) => `acct-${token}`;

export class WriteLoad {
  readonly answers: Answer[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  /** `url`: one server, or a function that picks one for each batch (a load balancer). */
  constructor(
    private readonly url: string | (() => string),
    private readonly auth: string,
    private readonly clients = 4,
    private readonly perBatch = 2,
  ) {}

  start(tag = 'w'): void {
    this.running = true;
    this.loops = Array.from({ length: this.clients }, (_, c) => this.loop(c, tag));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  ok(): Answer[] {
    return this.answers.filter((a) => a.status === 200 && a.retCode === 0);
  }

  /** Resolves once `count` batches sent after `since` were acknowledged, or rejects after `timeoutMs`. */
  async acknowledgedAfter(since: number, count: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.ok().filter((a) => a.started >= since).length < count) {
      if (Date.now() > deadline)
        throw new Error(`fewer than ${count} batches acknowledged within ${timeoutMs} ms after the fault`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async loop(client: number, tag: string): Promise<void> {
    for (let i = 0; this.running; i++) {
      const tokens = Array.from({ length: this.perBatch }, (_, k) => `${tag}${client}-${i}-${k}`);
      const body = {
        operator_type: 1,
        token_accounts: tokens.map((token) => ({ token, account_list: [{ account: accountOf(token) }] })),
      };
      const url = typeof this.url === 'string' ? this.url : this.url();
      const started = Date.now();
      let status = 0;
      let retCode: number | null = null;
      let message: string | undefined;
      try {
        const response = await fetch(url + BATCH, {
          method: 'POST',
          headers: { authorization: this.auth },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        status = response.status;
        const answer = (await response.json()) as { ret_code?: number; err_msg?: string };
        retCode = answer.ret_code ?? null;
        message = answer.err_msg;
      } catch {
        status = 0;
      }
      this.answers.push({ client, url, tokens, started, ended: Date.now(), status, retCode, message });
      if (status === 0) await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Which of these tokens the server has bound to their own account now (TPNS query op 2, 100 at a time). */
export async function boundTokens(url: string, auth: string, tokens: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < tokens.length; i += 100) {
    const response = await fetch(url + QUERY, {
      method: 'POST',
      headers: { authorization: auth },
      body: JSON.stringify({ operator_type: 2, token_list: tokens.slice(i, i + 100) }),
    });
    if (response.status !== 200) throw new Error(`query answered ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as {
      token_accounts: { token: string; account_list: { account: string }[] }[];
    };
    for (const entry of body.token_accounts) {
      if (entry.account_list.some((a) => a.account === accountOf(entry.token))) found.add(entry.token);
    }
  }
  return found;
}
