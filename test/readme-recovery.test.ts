/**
 * The README's "If things go wrong" commands, run as written: its SQLite backup block (create and
 * check while a server writes, restore once it is stopped) and its `bindery app rewind` lines, on a
 * scratch folder, with `npx bindery` meaning this checkout's CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeBatch } from '../src/domain/run-batch.ts';
import { DEFAULT_POLICY } from '../src/model/types.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { tempDir } from './support/helpers.ts';
import { basicHeader, cli, startServer, stopServer } from './support/server-process.ts';
import { boundTokens, WriteLoad } from './support/write-load.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = README.split('\n## ').find((s) => s.startsWith('If things go wrong'));

/** The section's ```sh blocks, each as its command lines (comments and continuation lines kept whole). */
function blocks(): string[][] {
  assert.ok(section, 'README has an "If things go wrong" section');
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => line !== '' && !line.startsWith('#')),
  );
}

/** Runs `lines` in bash in `cwd`, `npx bindery` being this checkout's CLI; stops at the first failure. */
function run(lines: string[], cwd: string, env: Record<string, string> = {}) {
  const npx = `npx() { [ "$1" = bindery ] && shift; "${process.execPath}" "${join(ROOT, 'bin/bindery.js')}" "$@"; }`;
  const result = spawnSync('bash', ['-e', '-c', [npx, ...lines].join('\n')], {
    cwd,
    env: { ...process.env, BINDERY_LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `${lines.join('\n')}\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

it('the backup block: a backup taken while a server writes, checked, and restored after it stops', async (t) => {
  const [backup] = blocks();
  assert.ok(backup && backup.length >= 4, 'the first block holds export, create, check and restore');
  const cwd = tempDir(t);
  const made = cli(['app', 'create', '--name', 'readme', '--json'], {
    BINDERY_DATABASE_URL: `sqlite:${join(cwd, 'data/bindery.db')}`,
  });
  assert.equal(made.status, 0, made.stderr);
  const app = JSON.parse(made.stdout) as { access_id: string; secret_key: string };
  const server = await startServer({
    BINDERY_DATABASE_URL: `sqlite:${join(cwd, 'data/bindery.db')}`,
    BINDERY_BOOTSTRAP_APP: 'false',
    BINDERY_LOG_LEVEL: 'warn',
  });
  t.after(() => stopServer(server));
  const auth = basicHeader(app.access_id, app.secret_key);
  const load = new WriteLoad(server.url, auth, 2, 1);
  load.start();
  t.after(() => load.stop());
  await load.acknowledgedAfter(0, 20);
  const restore = backup.findIndex((line) => line.includes('backup restore'));
  const [exportLine] = backup;
  const mkdir = 'mkdir -p backups';
  run([mkdir, ...backup.slice(0, restore)], cwd);
  const began = Date.now();
  await load.stop();
  const before = load.ok().filter((a) => a.ended < began);
  assert.equal(await stopServer(server), 0);
  run([exportLine!, backup[restore]!], cwd);
  assert.ok(readdirSync(join(cwd, 'data')).some((name) => name.startsWith('bindery.db.replaced-')));
  const again = await startServer({
    BINDERY_DATABASE_URL: `sqlite:${join(cwd, 'data/bindery.db')}`,
    BINDERY_BOOTSTRAP_APP: 'false',
    BINDERY_LOG_LEVEL: 'warn',
  });
  t.after(() => stopServer(again));
  const tokens = before.flatMap((a) => a.tokens);
  assert.ok(tokens.length >= 20);
  assert.ok(existsSync(join(cwd, 'backups/before-upgrade.db')));
  // The backup was taken before `began`: the writes answered before it are there.
  const found = await boundTokens(again.url, auth, tokens.slice(0, 20));
  assert.equal(found.size, 20);
});

it('the rewind lines: a dry run, then the rewind, of the app they name', async (t) => {
  const rewind = blocks()[1]!.filter((line) => line.startsWith('npx bindery app rewind'));
  assert.equal(rewind.length, 2);
  const accessId = /app rewind (\d+)/.exec(rewind[0]!)![1]!;
  const cwd = tempDir(t);
  const file = join(cwd, 'data/bindery.db');
  const store = await SqliteStore.open(file);
  const app = await store.createApp({ accessId, name: 'readme', secretKey: 'c'.repeat(32), policy: DEFAULT_POLICY });
  // Bound now, after the time the README names: the rewind takes them away again.
  const accounts = [{ account: 'ann', accountType: 0 }];
  await writeBatch(store, app.id, {
    elements: [
      { op: 1, token: 'late-1', accounts },
      { op: 1, token: 'late-2', accounts },
    ],
    platform: null,
    opType: null,
    opId: null,
  });
  await store.close();
  const env = { BINDERY_DATABASE_URL: `sqlite:${file}` };
  assert.match(run([rewind[0]!], cwd, env), /would bind 0 and unbind 2; nothing changed/);
  assert.match(run([rewind[1]!], cwd, env), /rewound app \d+ to .*bound 0, unbound 2/);
});
