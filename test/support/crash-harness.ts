/**
 * Kill -9 under load: writers send multi-element batchoperates to a real server process, which is
 * killed with SIGKILL at random moments and started again. Afterwards every answered request must
 * be there in full, and no request (answered or not) may be there in part.
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
}

const ELEMENTS = 3;

export async function crashRun(
  env: Record<string, string>,
  app: { access_id: string; secret_key: string },
  kills: number,
  writers = 8,
): Promise<CrashReport> {
  const auth = basicHeader(app.access_id, app.secret_key);
  const answered: string[] = [];
  const unanswered: string[] = [];
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
          (body.ret_code === 0 ? answered : unanswered).push(id);
        } catch {
          unanswered.push(id); // the process died with this request in flight
          return;
        }
      }
    };
    const running = Array.from({ length: writers }, (_, w) => writer(w));
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 600));
    server.child.kill('SIGKILL');
    stop = true;
    await Promise.all(running);
    await server.exited;
  }

  const server = await startServer(env);
  let lost = 0;
  let partial = 0;
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
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  return { kills, answered: answered.length, unanswered: unanswered.length, lost, partial };
}
