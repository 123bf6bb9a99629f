/**
 * Kill -9 under load: writers send multi-element batchoperates to a real server process, which is
 * killed with SIGKILL at random moments and started again; every other batch they bound is then
 * reported dead through /api/v1/feedback. Afterwards every answered request must be there in full
 * (bound, or bound and quarantined), and no request (answered or not) may be there in part.
 */
import { basicHeader, startServer } from './server-process.ts';

export interface CrashReport {
  kills: number;
  answered: number;
  unanswered: number;
  /** Answered requests whose elements are not all there. */
  lost: number;
  /** Requests with some but not all elements there. */
  partial: number;
  /** Feedback requests answered, and not answered (cut off by a kill). */
  feedbackAnswered: number;
  feedbackUnanswered: number;
  /** Answered feedback whose tokens are not all quarantined (with their bindings). */
  feedbackLost: number;
  /** Feedback requests with some but not all of their tokens quarantined. */
  feedbackPartial: number;
}

const ELEMENTS = 3;

export async function crashRun(
  env: Record<string, string>,
  app: { access_id: string; secret_key: string },
  kills: number,
  writers = 8,
  /** After each kill, before the restart: a power cut drops what was not synced, a database restarts. */
  afterKill: () => Promise<void> = async () => undefined,
): Promise<CrashReport> {
  const auth = basicHeader(app.access_id, app.secret_key);
  const answered: string[] = [];
  const unanswered: string[] = [];
  /** Batches answered, then reported dead: the feedback answered, or cut off. */
  const reported: string[] = [];
  const reportCutOff: string[] = [];
  const call = async (url: string, path: string, body: unknown) => {
    const response = await fetch(url + path, {
      method: 'POST',
      headers: { authorization: auth },
      body: JSON.stringify(body),
    });
    return (await response.json()) as Record<string, unknown>;
  };
  for (let round = 0; round < kills; round++) {
    const server = await startServer(env);
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const id = `r${round}w${w}n${i}`;
        const token_accounts = Array.from({ length: ELEMENTS }, (_, e) => ({
          token: `${id}e${e}`,
          account_list: [{ account: `acct-${id}` }],
        }));
        try {
          const body = await call(server.url, '/v3/device/account/batchoperate', { operator_type: 1, token_accounts });
          if (body.ret_code !== 0) {
            unanswered.push(id);
            continue;
          }
        } catch {
          unanswered.push(id); // the process died with this request in flight
          return;
        }
        if (i % 2 === 1) {
          answered.push(id);
          continue;
        }
        const items = token_accounts.map(({ token }) => ({ token, provider: 'apns', reason: 'Unregistered' }));
        try {
          const body = await call(server.url, '/api/v1/feedback', { items });
          (body.ret_code === 0 ? reported : reportCutOff).push(id);
        } catch {
          reportCutOff.push(id);
          return;
        }
      }
    };
    const running = Array.from({ length: writers }, (_, w) => writer(w));
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 600));
    server.child.kill('SIGKILL');
    stop = true;
    await server.exited;
    await afterKill();
    await Promise.all(running);
  }

  const server = await startServer(env);
  let lost = 0;
  let partial = 0;
  let feedbackLost = 0;
  let feedbackPartial = 0;
  try {
    const check = async (ids: string[], mustBeWhole: boolean) => {
      for (let i = 0; i < ids.length; i += 30) {
        const batch = ids.slice(i, i + 30);
        const tokens = batch.flatMap((id) => Array.from({ length: ELEMENTS }, (_, e) => `${id}e${e}`));
        const body = await call(server.url, '/v3/device/account/query', { operator_type: 2, token_list: tokens });
        const present = (body.token_accounts as { account_list: unknown[] }[]).map(
          (entry) => entry.account_list.length > 0,
        );
        batch.forEach((_, j) => {
          const count = present.slice(j * ELEMENTS, (j + 1) * ELEMENTS).filter(Boolean).length;
          if (count > 0 && count < ELEMENTS) partial++;
          if (mustBeWhole && count < ELEMENTS) lost++;
        });
      }
    };
    await check(answered, true);
    await check(unanswered, false);
    /** How many of the batch's tokens are quarantined, with their binding; -1 when one has none. */
    const quarantined = async (id: string) => {
      let count = 0;
      for (let e = 0; e < ELEMENTS; e++) {
        const response = await fetch(`${server.url}/api/v1/tokens/${id}e${e}/accounts?include=quarantined`, {
          headers: { authorization: auth },
        });
        const accounts = ((await response.json()) as { accounts: { state: string }[] }).accounts;
        if (accounts.length !== 1) return -1;
        if (accounts[0]!.state === 'quarantined') count++;
      }
      return count;
    };
    for (const id of reported) if ((await quarantined(id)) !== ELEMENTS) feedbackLost++;
    for (const id of reportCutOff) {
      const count = await quarantined(id);
      if (count === -1)
        feedbackLost++; // the bind was answered: its bindings must be there
      else if (count > 0 && count < ELEMENTS) feedbackPartial++;
    }
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  return {
    kills,
    answered: answered.length + reported.length + reportCutOff.length,
    unanswered: unanswered.length,
    lost,
    partial,
    feedbackAnswered: reported.length,
    feedbackUnanswered: reportCutOff.length,
    feedbackLost,
    feedbackPartial,
  };
}
