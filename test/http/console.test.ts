/**
 * The admin console end to end, in Debian's Chromium driven by playwright-core, against a real
 * server: sign in, create an app, bind through the TPNS endpoint, find the binding, unbind it in
 * the console, and see the TPNS query agree. Screenshots of each main screen go to
 * test-artifacts/console/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { tempDir } from '../support/helpers.ts';
import { basicHeader, type ServerProcess, startServer, stopServer } from '../support/server-process.ts';

const ADMIN = 'console-test-admin-token-42';
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts', 'console');
const EXECUTABLE = process.env.BINDERY_CHROMIUM ?? '/usr/bin/chromium';

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A server with the console on (the admin token set) and no app yet. */
async function consoleServer(t: TestContext): Promise<ServerProcess> {
  const server = await startServer({
    BINDERY_DATABASE_URL: `sqlite:${join(tempDir(t), 'b.db')}`,
    BINDERY_BOOTSTRAP_APP: 'false',
    BINDERY_ADMIN_TOKEN: ADMIN,
    BINDERY_LOG_LEVEL: 'warn',
  });
  t.after(() => stopServer(server));
  return server;
}

describe('admin console', () => {
  it('sign in, create an app, find a binding made through TPNS, unbind it, and TPNS agrees', async (t) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const server = await consoleServer(t);
    const browser = await chromium.launch({
      executablePath: EXECUTABLE,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const hosts = new Set<string>();
    page.on('request', (request) => hosts.add(new URL(request.url()).host));

    await page.goto(`${server.url}/console`);
    await shot(page, '1-sign-in');
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByLabel('Admin token').press('Enter');
    await page.getByRole('alert').getByText('That admin token is not right').waitFor();
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No apps yet. Create the first one below.').waitFor();
    await shot(page, '2-apps-empty');

    await page.getByLabel('Name').fill('shop');
    await page.getByRole('button', { name: 'Create app' }).click();
    await page.getByText('App "shop" is ready').waitFor();
    const accessId = (await page.getByTestId('AccessID').textContent()) ?? '';
    const secretKey = (await page.getByTestId('SecretKey').textContent()) ?? '';
    assert.match(accessId, /^\d{10}$/);
    assert.match(secretKey, /^[0-9a-f]{32}$/);
    await shot(page, '3-credentials-once');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    assert.equal(await page.getByTestId('SecretKey').count(), 0, 'the secret is gone from the page');

    const auth = basicHeader(accessId, secretKey);
    const tpns = async (path: string, body: unknown) =>
      (await (
        await fetch(`${server.url}/v3/device/account/${path}`, {
          method: 'POST',
          headers: { authorization: auth },
          body: JSON.stringify(body),
        })
      ).json()) as Record<string, unknown>;
    assert.equal(
      (
        await tpns('batchoperate', {
          operator_type: 1,
          platform: 'ios',
          op_type: 'email',
          op_id: 'ops@shop.test',
          token_accounts: [
            { token: 'phone-token', account_list: [{ account: 'alice' }] },
            { token: 'tablet-token', account_list: [{ account: 'alice' }] },
          ],
        })
      ).ret_code,
      0,
    );

    await page.reload();
    await page.getByRole('button', { name: 'Open shop' }).click();
    await page.getByRole('heading', { name: `shop ${accessId}` }).waitFor();
    await page.getByText('2 bindings · 2 tokens · 1 accounts · 0 quarantined').waitFor();
    await page.getByLabel('Account', { exact: true }).fill('alice');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('cell', { name: 'phone-token', exact: true }).waitFor();
    assert.equal(await page.getByRole('row').filter({ hasText: 'alice' }).count(), 2);
    await page.getByText('by email ops@shop.test').first().waitFor();
    await shot(page, '4-app-and-lookup');

    await page.getByRole('button', { name: 'Unbind alice from phone-token' }).click();
    await page.getByRole('dialog').getByText('Unbind account alice from token phone-token?').waitFor();
    await shot(page, '5-confirm-unbind');
    await page.getByRole('dialog').getByRole('button', { name: 'Unbind' }).click();
    await page.getByText('Unbound alice from phone-token.').waitFor();
    await page.getByRole('cell', { name: 'phone-token', exact: true }).waitFor({ state: 'detached' });
    await page.getByText('unbind').first().waitFor();
    await shot(page, '6-after-unbind');

    const query = await tpns('query', { operator_type: 1, account_list: [{ account: 'alice' }] });
    assert.deepEqual(
      query.account_tokens,
      [{ account: 'alice', account_type: 0, token_list: ['tablet-token'] }],
      'the TPNS query agrees with the console',
    );

    // A push provider says tablet-token is dead: the console shows why, and brings it back.
    const dead = await fetch(`${server.url}/api/v1/feedback`, {
      method: 'POST',
      headers: { authorization: auth },
      body: JSON.stringify({
        items: [{ token: 'tablet-token', provider: 'apns', reason: 'Unregistered', status: 410 }],
      }),
    });
    assert.equal(((await dead.json()) as { ret_code: number }).ret_code, 0);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('.badge.quarantined', { hasText: 'quarantined' }).waitFor();
    await page.getByText(/apns: Unregistered \(410\), since/).waitFor();
    await shot(page, '7-quarantined');
    const hidden = await tpns('query', { operator_type: 1, account_list: [{ account: 'alice' }] });
    assert.deepEqual(hidden.account_tokens, [{ account: 'alice', account_type: 0, token_list: [] }]);
    await page.getByRole('button', { name: 'Restore tablet-token: answer it in queries again' }).click();
    await page.getByText('Restored tablet-token: it is answered in queries again.').waitFor();
    await page.locator('.badge.active', { hasText: 'active' }).waitFor();
    await page.getByText('restored').first().waitFor();
    const back = await tpns('query', { operator_type: 1, account_list: [{ account: 'alice' }] });
    assert.deepEqual(back.account_tokens, [{ account: 'alice', account_type: 0, token_list: ['tablet-token'] }]);
    await page.getByLabel('Quarantine tokens not seen for this many days (empty = never)').fill('90');
    await page.getByRole('button', { name: 'Save policies' }).click();
    await page.getByText('Policies saved.').waitFor();
    await page.getByLabel('Warn (token.expiring) this many days before').fill('90');
    await page.getByRole('button', { name: 'Save policies' }).click();
    await page.getByText('expiry_warning_days (90) must be less than token_ttl_days (90)').waitFor();
    await page.getByLabel('Warn (token.expiring) this many days before').fill('7');

    await page.getByLabel('By token').check();
    await page.getByLabel('Token', { exact: true }).fill('no-such-token');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No bindings for this token.').waitFor();

    // TPNS's rules since 2020, chosen in the console: op 1 at a login now moves the device.
    await page.getByLabel('Binding rules').selectOption('tpns');
    await page.getByRole('button', { name: 'Save policies' }).click();
    await page.getByText('Policies saved.').waitFor();
    assert.equal(
      (
        await tpns('batchoperate', {
          operator_type: 1,
          token_accounts: [{ token: 'tablet-token', account_list: [{ account: 'bob' }] }],
        })
      ).ret_code,
      0,
    );
    const moved = JSON.stringify(
      (await tpns('query', { operator_type: 2, token_list: ['tablet-token'] })).token_accounts,
    );
    assert.ok(
      moved.includes('"bob"') && !moved.includes('"alice"'),
      `under the tpns rules bob replaced alice: ${moved}`,
    );
    await page.reload();
    await page.getByRole('cell', { name: 'tpns', exact: true }).waitFor();

    assert.deepEqual([...hosts], [new URL(server.url).host], 'no request left this server');
  });

  it('works on a 390 px phone: no sideways scroll; the create form keeps TPNS credentials and rules; imports explain their empty history', async (t) => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const server = await consoleServer(t);
    const root = await fetch(server.url, { redirect: 'manual' });
    assert.deepEqual([root.status, root.headers.get('location')], [302, '/console/'], 'GET / leads to the console');
    const browser = await chromium.launch({ executablePath: EXECUTABLE, args: ['--no-sandbox', '--disable-gpu'] });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const sideways = async () =>
      Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));

    await page.goto(server.url);
    await page.getByLabel('Admin token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No apps yet. Create the first one below.').waitFor();
    await page.getByLabel('Name').fill('an app whose name is long enough to wrap on a phone screen');
    await page.getByLabel('Binding rules').selectOption('tpns');
    await page.getByLabel('TPNS AccessID').fill('1500001048');
    await page.getByLabel('TPNS SecretKey').fill('1452fcebae9f3115ba794fb0fff2fd73');
    await page.getByRole('button', { name: 'Create app' }).click();
    await page.getByText(/is ready/).waitFor();
    assert.equal(await page.getByTestId('AccessID').textContent(), '1500001048', 'the TPNS AccessID is kept');
    assert.equal(await page.getByTestId('SecretKey').textContent(), '1452fcebae9f3115ba794fb0fff2fd73');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.locator('td[data-label="Binding rules"]', { hasText: 'tpns' }).waitFor();
    assert.ok((await sideways()) <= 0, `the apps list fits 390 px (${await sideways()} px too wide)`);
    await shot(page, 'phone-1-apps');

    const auth = basicHeader('1500001048', '1452fcebae9f3115ba794fb0fff2fd73');
    const imported = await fetch(`${server.url}/api/v1/import`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-ndjson' },
      body: `${JSON.stringify({ token: `imported-${'x'.repeat(50)}`, account: 'alice', platform: 'ios' })}\n`,
    });
    assert.deepEqual(((await imported.json()) as { imported: number }).imported, 1);
    await page.getByRole('button', { name: /^Open an app whose name/ }).click();
    await page.getByLabel('Account', { exact: true }).fill('alice');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('td[data-label="Token"]', { hasText: 'imported-x' }).waitFor();
    await page.getByText(/Bindings made by an import write no history/).waitFor();
    assert.ok((await sideways()) <= 0, `the app and its bindings fit 390 px (${await sideways()} px too wide)`);
    await shot(page, 'phone-2-lookup');
  });
});
