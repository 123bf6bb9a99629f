/**
 * Webhooks end to end: a real receiver that fails at first, a server that is killed (SIGKILL) with
 * events still queued and started again. Every event arrives, in order, signed; none is lost.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../support/helpers.ts';
import { basicHeader, cli, startServer, stopServer } from '../support/server-process.ts';

interface Received {
  id: number;
  type: string;
  data: { token: string; account: string; cause: string };
  signatureOk: boolean;
  status: number;
}

const ADMIN = 'webhook-test-admin-token-123';

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) body += String(chunk);
  return body;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('webhooks', () => {
  it('delivers every event at least once, in order and signed, across a failing receiver and a kill -9', async (t) => {
    let secret = '';
    let failuresLeft = 4;
    const received: Received[] = [];
    const receiver = createServer(async (request, response) => {
      const body = await readBody(request);
      const header = String(request.headers['x-bindery-signature'] ?? '');
      const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) ?? [];
      const signatureOk = !!ts && createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex') === v1;
      const status = failuresLeft-- > 0 ? 500 : 204;
      const event = JSON.parse(body) as Omit<Received, 'signatureOk' | 'status'>;
      received.push({ ...event, signatureOk, status });
      response.statusCode = status;
      response.end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    t.after(() => receiver.close());
    const address = receiver.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;

    const env = {
      BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_WEBHOOK_POLL_MS: '50',
      BINDERY_WEBHOOK_RETRY_BASE_MS: '150',
      // A claim lasts 3 × this timeout: the kill -9 can land while the dead process holds one (it
      // was reading the receiver's answer), and the next process takes the event once it lapses.
      // At the default 10 s that lapse alone (30 s) outlasted the wait below, now and then, in CI.
      BINDERY_WEBHOOK_TIMEOUT_MS: '2000',
      BINDERY_ADMIN_TOKEN: ADMIN,
      // The receiver runs on this machine: an on-premises set-up.
      BINDERY_WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    const app = JSON.parse(cli(['app', 'create', '--name', 'hooked', '--json'], env).stdout) as {
      access_id: string;
      secret_key: string;
    };
    const hooked = cli(['app', 'set-webhook', app.access_id, '--url', url, '--json'], env);
    assert.equal(hooked.status, 0, hooked.stderr);
    secret = (JSON.parse(hooked.stdout) as { webhook_secret: string }).webhook_secret;
    const auth = basicHeader(app.access_id, app.secret_key);
    const batch = async (base: string, body: unknown) => {
      const response = await fetch(`${base}/v3/device/account/batchoperate`, {
        method: 'POST',
        headers: { authorization: auth },
        body: JSON.stringify(body),
      });
      assert.equal(((await response.json()) as { ret_code: number }).ret_code, 0);
    };

    const first = await startServer(env);
    await batch(first.url, {
      operator_type: 1,
      token_accounts: [{ token: 't1', account_list: [{ account: 'alice' }, { account: 'bob' }] }],
    });
    await batch(first.url, {
      operator_type: 1,
      token_accounts: [
        { token: 't2', account_list: [{ account: 'alice' }] },
        { token: 't1', account_list: [{ account: 'alice' }] },
      ],
    });
    await batch(first.url, { operator_type: 4, token_list: ['t1'] });
    await until(() => received.length >= 3, 'the first failing attempts');
    first.child.kill('SIGKILL');
    await first.exited;
    const failedBeforeKill = received.filter((r) => r.status === 500).length;
    assert.ok(failedBeforeKill >= 1, 'the receiver failed some attempts before the crash');

    const second = await startServer(env);
    t.after(() => stopServer(second));
    await batch(second.url, { operator_type: 5, account_list: [{ account: 'alice' }] });
    const expected = [
      'binding.created t1/alice bind',
      'binding.created t1/bob bind',
      'binding.created t2/alice bind',
      'binding.deleted t1/alice token_reset',
      'binding.deleted t1/bob token_reset',
      'binding.deleted t2/alice account_reset',
    ];
    const delivered = () => {
      const seen = new Map<number, Received>();
      for (const r of received) if (r.status === 204 && !seen.has(r.id)) seen.set(r.id, r);
      return [...seen.values()];
    };
    await until(() => delivered().length >= expected.length, 'every event to be delivered');
    const events = delivered();
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.data.token}/${e.data.account} ${e.data.cause}`),
      expected,
      'none lost, none extra, in order',
    );
    assert.ok(
      events.every((e, i) => i === 0 || e.id > events[i - 1]!.id),
      'ids increase',
    );
    assert.ok(
      received.every((r) => r.signatureOk),
      'every delivery is signed with the webhook secret',
    );

    const log = await fetch(`${second.url}/admin/v1/apps/${app.access_id}/webhook-deliveries?limit=100`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const statuses = ((await log.json()) as { deliveries: { status: number | null }[] }).deliveries.map(
      (d) => d.status,
    );
    assert.ok(
      statuses.includes(500) && statuses.includes(204),
      `the delivery log keeps failures and successes: ${statuses.join(',')}`,
    );
    const metrics = await (await fetch(`${second.url}/metrics`)).text();
    assert.match(metrics, /bindery_webhook_deliveries_total\{result="delivered"\} [1-9]/);
    const history = await fetch(`${second.url}/api/v1/history?token=t2`, { headers: { authorization: auth } });
    assert.deepEqual(
      ((await history.json()) as { entries: { cause: string }[] }).entries.map((e) => e.cause),
      ['account_reset', 'bind'],
    );
  });
});
