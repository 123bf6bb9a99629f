/** The CLI against running servers: bind/unbind/query, and an export -> import round trip of 100,000 bindings. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { asBound } from '../../src/model/types.ts';
import { tempDir } from '../support/helpers.ts';
import { cli, cliAsync, cliServer } from '../support/server-process.ts';

describe('bindery bind / unbind / query', () => {
  it('work against a running server, with human and --json output and exit codes', async (t) => {
    const env = await cliServer(t);
    assert.equal(
      cli(['bind', 'phone', 'alice', 'bob', '--platform', 'ios'], env).stdout,
      'bound phone to alice, bob\n',
    );
    const tokens = cli(['query', '--account', 'alice'], env);
    assert.match(
      tokens.stdout,
      /^TOKEN {2}PLATFORM {2}BOUND AT\nphone {2}ios {7}\d{4}-\d\d-\d\dT[\d:.]+Z\n$/,
      'a header line, then aligned columns',
    );
    const accounts = JSON.parse(cli(['query', '--token', 'phone', '--json', '--sign'], env).stdout) as {
      account: string;
    }[];
    assert.deepEqual(
      accounts.map((a) => a.account),
      ['alice', 'bob'],
    );
    assert.equal(cli(['unbind', 'phone', 'bob'], env).status, 0);
    const nothing = cli(['unbind', '--account', 'nobody'], env);
    assert.deepEqual(
      [nothing.status, nothing.stdout],
      [
        3,
        'bindery: all 1 elements failed: account_list[0]: has no bindings (TPNS 1008027: nothing was applied)\n' +
          '  nobody: 10110008\n',
      ],
      'nothing to unbind: exit 3, the element code, nothing applied',
    );
    const invalid = cli(['bind', 'x'.repeat(65), 'alice'], env);
    assert.deepEqual(
      [invalid.status, invalid.stdout],
      [
        1,
        'bindery: all 1 elements failed: token_accounts[0].token: longer than 64 bytes (65 bytes) (TPNS 1008027: ' +
          `nothing was applied)\n  ${'x'.repeat(65)}: 1008006\n`,
      ],
      'every element failed for another reason: exit 1, not 4',
    );
    assert.equal(cli(['bind', 'tablet', 'carol', 'dave', 'erin'], env).status, 0);
    assert.equal(
      cli(['bind', 'tablet', 'dave', '--exclusive'], env).stdout,
      'bound tablet to dave; removed carol, erin\n',
      '--exclusive says which accounts it removed',
    );
    assert.equal(
      cli(['bind', 'tablet', 'dave', '--exclusive'], env).stdout,
      'bound tablet to dave; it had no other account\n',
    );
    assert.equal(cli(['query', '--account', 'bob'], env).status, 3, 'no bindings');
    const wrong = cli(['query', '--account', 'alice'], { ...env, BINDERY_SECRET_KEY: 'f'.repeat(32) });
    assert.equal(wrong.status, 2);
    assert.match(
      wrong.stderr,
      /^bindery: the server refused the credentials \(TPNS 1008003, HTTP 401\): authentication failed: .*; check --access-id and --secret-key/,
    );
    const missing = cli(['query', '--account', 'alice'], { ...env, BINDERY_ACCESS_ID: '' });
    assert.deepEqual([missing.status, /--access-id and --secret-key/.test(missing.stderr)], [2, true]);
  });

  it('says what went wrong and how to fix it, never with a stack trace unless --debug', async (t) => {
    const env = await cliServer(t);
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const refused = cli(['query', '--account', 'alice'], { ...env, BINDERY_URL: `http://127.0.0.1:${closed}` });
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /^bindery: no answer from the server \(.*ECONNREFUSED.*\): is it running \(`npm start` or `bindery serve`\), and are --url \/ BINDERY_URL right\?\n$/,
    );
    const tls = cli(['query', '--account', 'alice'], {
      ...env,
      BINDERY_URL: env.BINDERY_URL!.replace('http:', 'https:'),
    });
    assert.deepEqual(
      [tls.status, tls.stderr],
      [
        2,
        'bindery: the server does not speak TLS at that address (bindery serves plain HTTP unless a proxy in front ' +
          'adds TLS): use --url http://… (or BINDERY_URL), or the address of your TLS proxy\n',
      ],
      'https:// against the plain port: no OpenSSL text',
    );
    const bad = cli(['query', '--account', 'alice'], { ...env, BINDERY_URL: 'not a url' });
    assert.deepEqual(
      [bad.status, bad.stderr],
      [
        2,
        'bindery: --url (or BINDERY_URL) must be the server\'s http:// or https:// address, e.g. http://127.0.0.1:8080; got "not a url"\n',
      ],
    );
    const empty = cli(['query', '--account', 'alice'], { ...env, BINDERY_URL: '' });
    assert.match(
      empty.stderr,
      /no answer from the server \(.*127\.0\.0\.1:8080/,
      'an empty BINDERY_URL is the default, not a crash',
    );
    const missingFile = cli(['import', '/no/such/bindings.csv'], env);
    assert.deepEqual(
      [missingFile.status, missingFile.stderr],
      [2, 'bindery: cannot read /no/such/bindings.csv: no such file\n'],
    );
    const noFolder = cli(['export', '--output', '/no/such/folder/out.ndjson'], env);
    assert.deepEqual(
      [noFolder.status, noFolder.stderr],
      [2, 'bindery: cannot write /no/such/folder/out.ndjson: no such folder\n'],
    );
    for (const run of [refused, tls, bad, empty, missingFile, noFolder])
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });

  it('never prints a secret from the environment in --help', () => {
    const secret = 'f00dfeedf00dfeedf00dfeedf00dfeed';
    for (const command of ['bind', 'unbind', 'query', 'import', 'export']) {
      const help = cli([command, '--help'], {
        BINDERY_SECRET_KEY: secret,
        BINDERY_ACCESS_ID: '1500000001',
        BINDERY_ADMIN_TOKEN: `admin-${secret}`,
      });
      assert.equal(help.status, 0);
      assert.match(help.stdout, /--secret-key <key> +app SecretKey \(env: BINDERY_SECRET_KEY\)/);
      assert.doesNotMatch(help.stdout + help.stderr, new RegExp(secret), `${command} --help printed the SecretKey`);
    }
  });
});

describe('bindery export / import', () => {
  it('round-trips 100,000 bindings through NDJSON exactly, with a progress bar', async (t) => {
    const count = 100_000;
    const source = await cliServer(t, async (store, appId) => {
      for (let i = 0; i < count; i += 10_000) {
        await store.importBindings(
          appId,
          Array.from({ length: 10_000 }, (_, k) =>
            asBound({
              token: `token-${i + k}`,
              account: `user-${(i + k) % 30_000}`,
              accountType: (i + k) % 3,
              platform: (i + k) % 2 ? ('ios' as const) : null,
              boundAt: 1_780_000_000_000_000 + (i + k) * 7,
            }),
          ),
        );
      }
    });
    const target = await cliServer(t);
    const dir = tempDir(t);
    const exported = cli(['export', '--output', join(dir, 'a.ndjson')], source);
    assert.equal(exported.status, 0, exported.stderr);
    assert.match(exported.stderr, /exported 100000 bindings/);
    const imported = cli(['import', join(dir, 'a.ndjson')], target);
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stderr, /importing .*100% \| 100000\/100000 lines \| \d+\/s/);
    assert.match(imported.stdout, /^imported 100000 bindings, 0 lines refused/);
    assert.equal(cli(['export', '--output', join(dir, 'b.ndjson')], target).status, 0);
    const a = readFileSync(join(dir, 'a.ndjson'), 'utf8');
    assert.equal(a.split('\n').length - 1, count);
    assert.equal(readFileSync(join(dir, 'b.ndjson'), 'utf8'), a, 'the two exports are identical');
  });

  it('an export that breaks off keeps what came, exits 4 saying how to go on, and --from-token goes on', async (t) => {
    const count = 20_000;
    const source = await cliServer(t, async (store, appId) => {
      await store.importBindings(
        appId,
        Array.from({ length: count }, (_, i) =>
          asBound({
            token: `token-${i}`,
            account: `user-${i % 7_000}`,
            accountType: 0,
            platform: null,
            boundAt: 1 + i,
          }),
        ),
      );
    });
    // A network in between that breaks the export's connection after 300,000 bytes.
    const upstream = new URL(source.BINDERY_URL);
    const proxy = createHttpServer((req, res) => {
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          let bytes = 0;
          answer.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > 300_000) {
              answer.destroy();
              res.socket?.destroy();
            } else res.write(chunk);
          });
          answer.on('end', () => res.end());
        },
      );
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    t.after(() => proxy.close());
    const address = proxy.address() as AddressInfo;
    const dir = tempDir(t);

    const broken = await cliAsync(['export', '--output', join(dir, 'a.ndjson')], {
      ...source,
      BINDERY_URL: `http://127.0.0.1:${address.port}`,
    });
    assert.equal(broken.status, 4, broken.stderr);
    const resume = /--from-token '([^']+)'/.exec(broken.stderr);
    assert.ok(resume, `the message says how to go on: ${broken.stderr}`);
    assert.match(
      broken.stderr,
      /broke off after \d+ bindings.*\nthe export is incomplete: \d+ bindings were written to /s,
    );
    const first = readFileSync(join(dir, 'a.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.ok(first.length > 0 && first.length < count, `part of it was kept: ${first.length}`);
    assert.equal((JSON.parse(first.at(-1)!) as { token: string }).token, resume[1], 'the last token written');

    const rest = await cliAsync(['export', '--output', join(dir, 'b.ndjson'), '--from-token', resume[1]!], source);
    assert.equal(rest.status, 0, rest.stderr);
    const second = readFileSync(join(dir, 'b.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(
      (JSON.parse(second[0]!) as { token: string }).token,
      resume[1],
      "it starts with that token's bindings",
    );
    const whole = await cliAsync(['export', '--output', join(dir, 'c.ndjson')], source);
    assert.equal(whole.status, 0, whole.stderr);
    const all = readFileSync(join(dir, 'c.ndjson'), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(all.length, count);
    assert.deepEqual([...new Set([...first, ...second])], all, 'the two parts are the whole export, in order');
  });

  it('round-trips CSV, and reports refused lines with their numbers and exit code 4', async (t) => {
    const source = await cliServer(t, async (store, appId) => {
      await store.importBindings(
        appId,
        [
          {
            token: 'a,b',
            account: 'quote"d',
            accountType: 1,
            platform: 'android' as const,
            boundAt: 1_780_000_000_000_001,
          },
          { token: 'plain', account: 'alice', accountType: 0, platform: null, boundAt: 1_780_000_000_000_002 },
        ].map(asBound),
      );
    });
    const target = await cliServer(t);
    const dir = tempDir(t);
    assert.equal(cli(['export', '--output', join(dir, 'a.csv')], source).status, 0);
    assert.equal(
      readFileSync(join(dir, 'a.csv'), 'utf8').split('\n')[0],
      'token,account,account_type,platform,bound_at,last_seen_at,state,quarantined_at,quarantine_reason',
    );
    const result = cli(['import', join(dir, 'a.csv'), '--json'], target);
    assert.deepEqual(JSON.parse(result.stdout).imported, 2);
    assert.equal(cli(['export', '--output', join(dir, 'b.csv')], target).status, 0);
    assert.equal(readFileSync(join(dir, 'b.csv'), 'utf8'), readFileSync(join(dir, 'a.csv'), 'utf8'));

    writeFileSync(join(dir, 'bad.ndjson'), '{"token":"ok","account":"alice"}\nnot json\n{"token":"x","account":"a"}\n');
    const bad = cli(['import', join(dir, 'bad.ndjson')], target);
    assert.equal(bad.status, 4);
    assert.match(bad.stdout, /imported 1 bindings, 2 lines refused/);
    assert.match(bad.stdout, /line 2: not valid JSON/);
    assert.match(bad.stdout, /line 3: account: must be longer than 1 byte/);

    // CSV refusals by the file's own line numbers (a quoted field spans two lines), exit 4.
    writeFileSync(
      join(dir, 'bad.csv'),
      'token,account,account_type\nt1,alice,0\nt2,"two\nlines",0\nt3,,0\nt4,bob,abc\n',
    );
    const badCsv = cli(['import', join(dir, 'bad.csv')], target);
    assert.equal(badCsv.status, 4, badCsv.stderr);
    assert.match(badCsv.stdout, /imported 2 bindings, 2 lines refused/);
    assert.match(badCsv.stdout, /bad\.csv line 5: account: /);
    assert.match(badCsv.stdout, /bad\.csv line 6: account_type: /);
    // A file that is not CSV at all: exit 2 with the line, nothing imported.
    writeFileSync(join(dir, 'broken.csv'), 'token,account\nt9,alice\nt10,"unclosed\n');
    const broken = cli(['import', join(dir, 'broken.csv')], target);
    assert.equal(broken.status, 2);
    assert.match(
      broken.stderr,
      /^bindery: .*broken\.csv line \d+: .*quote.*; the file cannot be read as CSV .*nothing was imported\n$/i,
    );
    assert.doesNotMatch(broken.stderr, /\n\s+at /);
    writeFileSync(join(dir, 'header.csv'), 'device,user\nt9,alice\n');
    const header = cli(['import', join(dir, 'header.csv')], target);
    assert.deepEqual(
      [header.status, /line 1: the header must name the columns token and account/.test(header.stderr)],
      [2, true],
    );
    assert.equal(
      JSON.parse(cli(['query', '--token', 't9', '--json'], target).stdout).length,
      0,
      'nothing of a refused file was imported',
    );
  });
});
