/**
 * The SDK as a user gets it. `bindery-client` (packages/bindery-client): its own `npm pack` builds a
 * tarball of tens of kilobytes that installs alone (no dependency at all) and talks to a real server
 * with Basic and with the signature, type-checked from TypeScript (moduleResolution node16 and
 * bundler). `bindery/client` from the server's own tarball keeps working for those who import it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/helpers.ts';
import { startWithFirstApp } from '../support/server-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Packed {
  filename: string;
  size: number;
  files: { path: string }[];
}

/** `npm pack --json` in `dir`; its lifecycle scripts' output comes first on stdout, the JSON last. */
function pack(dir: string, destination: string, ...flags: string[]): Packed {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', destination, ...flags], {
    cwd: dir,
    encoding: 'utf8',
  });
  return (JSON.parse(out.slice(out.lastIndexOf('\n[') + 1)) as Packed[])[0]!;
}

function freshProject(dir: string): string {
  const app = join(dir, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  return app;
}

function typeChecks(app: string, module: string): void {
  writeFileSync(
    join(app, 'good.ts'),
    `import { BinderyClient, type BatchoperateResponse } from '${module}';
const bindery = new BinderyClient({ baseUrl: 'http://127.0.0.1:8080', accessId: '1', secretKey: 'x' });
export const answer: Promise<BatchoperateResponse> = bindery.batchoperate({ operator_type: 1, token_accounts: [{ token: 't', account_list: [{ account: 'a' }] }] });
`,
  );
  writeFileSync(
    join(app, 'bad.ts'),
    `import { BinderyClient } from '${module}';\nnew BinderyClient({ baseUrl: 1 });\n`,
  );
  for (const [kind, resolution] of [
    ['node16', 'node16'],
    ['esnext', 'bundler'],
  ]) {
    const tsc = (file: string) =>
      spawnSync(
        process.execPath,
        [
          TSC,
          '--noEmit',
          '--strict',
          '--target',
          'es2022',
          '--module',
          kind!,
          '--moduleResolution',
          resolution!,
          '--types',
          'node',
          '--typeRoots',
          join(ROOT, 'node_modules', '@types'),
          file,
        ],
        { cwd: app, encoding: 'utf8' },
      );
    const good = tsc('good.ts');
    assert.equal(good.status, 0, `${resolution}: ${good.stdout}`);
    assert.notEqual(tsc('bad.ts').status, 0, `${resolution}: the types are really checked`);
  }
}

describe('bindery-client, the SDK package', () => {
  it('npm pack builds it; it installs alone and calls a real server with Basic and with the signature', async (t) => {
    const dir = tempDir(t);
    const packed = pack(join(ROOT, 'packages', 'bindery-client'), dir);
    const files = packed.files.map((f) => f.path).sort();
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), files.join(' '));
    assert.deepEqual(
      files.filter((f) => !/^dist\/[\w-]+\.(js|d\.ts)$/.test(f)),
      ['README.md', 'package.json'],
      'compiled SDK files, the README and the manifest: nothing of the server',
    );
    const bytes = statSync(join(dir, packed.filename)).size;
    assert.ok(bytes < 64 * 1024, `a tarball of tens of kilobytes (${bytes} bytes)`);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', 'bindery-client', 'package.json'), 'utf8'));
    assert.equal(manifest.dependencies, undefined, 'no runtime dependency');

    const app = freshProject(dir);
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, packed.filename)], {
      cwd: app,
      stdio: 'pipe',
    });
    assert.deepEqual(
      readdirSync(join(app, 'node_modules')).filter((name) => !name.startsWith('.')),
      ['bindery-client'],
      'node_modules holds the SDK alone',
    );

    const { server, accessId, secretKey } = await startWithFirstApp(t);
    writeFileSync(
      join(app, 'use.mjs'),
      `import { BinderyClient, BinderyError } from 'bindery-client';
const [url, accessId, secretKey, auth] = process.argv.slice(2);
const bindery = new BinderyClient({ baseUrl: url, accessId, secretKey, auth, retries: 0 });
await bindery.batchoperate({ operator_type: 1, token_accounts: [{ token: 'phone-' + auth, account_list: [{ account: 'alice' }] }] });
const wrong = new BinderyClient({ baseUrl: url, accessId, secretKey: '0'.repeat(32), auth, retries: 0 });
const refused = await wrong.accountTokens('alice').catch((e) => e instanceof BinderyError && e.retCode);
console.log(JSON.stringify({ tokens: (await bindery.accountTokens('alice')).map((x) => x.token), refused }));
`,
    );
    for (const [auth, tokens] of [
      ['basic', ['phone-basic']],
      ['signature', ['phone-basic', 'phone-signature']],
    ] as const) {
      const run = spawnSync(process.execPath, ['use.mjs', server.url, accessId, secretKey, auth], {
        cwd: app,
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), { tokens, refused: 1008003 }, auth);
    }
    typeChecks(app, 'bindery-client');
  });

  it("bindery/client from the server's own tarball keeps working", async (t) => {
    const dir = tempDir(t);
    // `npm test` has built dist already; a user's `npm pack` runs the prepare build itself.
    const packed = pack(ROOT, dir, '--ignore-scripts');
    const files = packed.files.map((f) => f.path);
    for (const needed of [
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'bin/bindery.js',
      'dist/server/cli/main.js',
    ])
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    assert.ok(!files.some((f) => f.startsWith('test/')), 'no tests in the tarball');
    const app = freshProject(dir);
    // Dependencies come from npm's cache when it has them; nothing is built in the consumer (--ignore-scripts).
    execFileSync(
      'npm',
      ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed.filename)],
      { cwd: app, stdio: 'pipe' },
    );
    const { server, accessId, secretKey } = await startWithFirstApp(t);
    writeFileSync(
      join(app, 'use.mjs'),
      `import { BinderyClient } from 'bindery/client';
const bindery = new BinderyClient({ baseUrl: process.argv[2], accessId: process.argv[3], secretKey: process.argv[4] });
await bindery.batchoperate({ operator_type: 1, token_accounts: [{ token: 'phone', account_list: [{ account: 'alice' }] }] });
console.log(JSON.stringify(await bindery.accountTokens('alice')));
`,
    );
    const run = spawnSync(process.execPath, ['use.mjs', server.url, accessId, secretKey], {
      cwd: app,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(
      (JSON.parse(run.stdout) as { token: string }[]).map((x) => x.token),
      ['phone'],
    );
    typeChecks(app, 'bindery/client');
  });
});
