/**
 * The SDK as a user gets it: `npm pack` gives a tarball that installs in a fresh project with no
 * build step there, and `bindery/client` works from ESM JavaScript against a real server and
 * type-checks from TypeScript (moduleResolution node16 and bundler).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/helpers.ts';
import { startServer, stopServer } from '../support/server-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

describe('the SDK as a package', () => {
  it('npm pack -> npm install in a fresh project -> import from JavaScript and TypeScript', async (t) => {
    const dir = tempDir(t);
    // `npm test` has built dist already; a user's `npm pack` runs the prepare build itself.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
        cwd: ROOT,
        encoding: 'utf8',
      }),
    ) as { filename: string; files: { path: string }[] }[];
    const files = packed[0]!.files.map((f) => f.path);
    for (const needed of [
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'bin/bindery.js',
      'dist/server/cli/main.js',
    ])
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    assert.ok(!files.some((f) => f.startsWith('test/')), 'no tests in the tarball');

    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // Dependencies come from npm's cache when it has them; nothing is built in the consumer (--ignore-scripts).
    execFileSync(
      'npm',
      [
        'install',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        join(dir, packed[0]!.filename),
        '@types/node@^20',
      ],
      { cwd: app, stdio: 'pipe' },
    );

    const server = await startServer({ BINDERY_DATABASE_URL: `sqlite:${join(dir, 'b.db')}` });
    t.after(() => stopServer(server));
    const [, accessId, secretKey] = /-u (\d+):([0-9a-f]{32}) /.exec(server.output())!;
    writeFileSync(
      join(app, 'use.mjs'),
      `import { BinderyClient } from 'bindery/client';
const bindery = new BinderyClient({ baseUrl: process.argv[2], accessId: process.argv[3], secretKey: process.argv[4] });
await bindery.batchoperate({ operator_type: 1, token_accounts: [{ token: 'phone', account_list: [{ account: 'alice' }] }] });
console.log(JSON.stringify(await bindery.accountTokens('alice')));
`,
    );
    const run = spawnSync(process.execPath, ['use.mjs', server.url, accessId!, secretKey!], {
      cwd: app,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(
      (JSON.parse(run.stdout) as { token: string }[]).map((x) => x.token),
      ['phone'],
    );

    writeFileSync(
      join(app, 'good.ts'),
      `import { BinderyClient, type BatchoperateResponse } from 'bindery/client';
const bindery = new BinderyClient({ baseUrl: 'http://127.0.0.1:8080', accessId: '1', secretKey: 'x' });
export const answer: Promise<BatchoperateResponse> = bindery.batchoperate({ operator_type: 1, token_accounts: [{ token: 't', account_list: [{ account: 'a' }] }] });
`,
    );
    writeFileSync(
      join(app, 'bad.ts'),
      `import { BinderyClient } from 'bindery/client';\nnew BinderyClient({ baseUrl: 1 });\n`,
    );
    for (const [module, resolution] of [
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
            module!,
            '--moduleResolution',
            resolution!,
            '--types',
            'node',
            file,
          ],
          { cwd: app, encoding: 'utf8' },
        );
      const good = tsc('good.ts');
      assert.equal(good.status, 0, `${resolution}: ${good.stdout}`);
      assert.notEqual(tsc('bad.ts').status, 0, `${resolution}: the types are really checked`);
    }
  });
});
