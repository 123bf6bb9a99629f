/**
 * The disk under a running SQLite server: filled up, and the database file deleted, while writers
 * run. /readyz must tell the truth (503 with the reason), every answer must be honest, no write
 * may be acknowledged into a file that is gone, and a full import spool is a server fault (5xx),
 * not a client error. The full disk is a real one: a 64 MiB tmpfs mounted for the test (root).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { AppService } from '../../src/domain/app-service.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../support/helpers.ts';
import { basicHeader, type ServerProcess, startServer, stopServer } from '../support/server-process.ts';
import { type Answer, boundTokens, WriteLoad } from '../support/write-load.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mountTmpfs(t: TestContext, sizeMb: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `this test fills a real file system: it mounts a tmpfs, which needs root (CAP_SYS_ADMIN): ` +
        `${(error as Error).message}`,
    );
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes zeros until the file system refuses (ENOSPC). */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(256 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

async function appOn(file: string): Promise<{ auth: string }> {
  const store = await SqliteStore.open(file);
  const app = await new AppService(store, 0).create({ name: 'disk' });
  await store.close();
  return { auth: basicHeader(app.accessId, app.secretKey) };
}

async function readyz(server: ServerProcess): Promise<{ status: number; detail?: string }> {
  const response = await fetch(`${server.url}/readyz`);
  const { detail } = (await response.json()) as { detail?: string };
  return { status: response.status, ...(detail === undefined ? {} : { detail }) };
}

function assertHonest(answers: Answer[]): void {
  const other = answers.filter(
    (a) => !(a.status === 200 && a.retCode === 0) && !(a.status === 503 && a.retCode === 1008004),
  );
  assert.deepEqual(
    other.slice(0, 5).map((a) => [a.status, a.retCode]),
    [],
    `${other.length} answers were neither 200/0 nor 503/1008004`,
  );
}

async function importBody(
  server: ServerProcess,
  auth: string,
  body: string,
): Promise<{ status: number; retCode: number; message: string }> {
  const response = await fetch(`${server.url}/api/v1/import`, {
    method: 'POST',
    headers: { authorization: auth },
    body,
  });
  const json = (await response.json()) as { ret_code: number; err_msg: string };
  return { status: response.status, retCode: json.ret_code, message: json.err_msg };
}

describe('disk faults (SQLite)', () => {
  it('a full disk: /readyz says so, answers stay honest, a full spool is a 503, and it recovers with nothing lost', async (t) => {
    const dir = mountTmpfs(t, 64);
    const file = join(dir, 'bindery.db');
    const { auth } = await appOn(file);
    const env = { BINDERY_DATABASE_URL: `sqlite:${file}`, BINDERY_BOOTSTRAP_APP: 'false', BINDERY_LOG_LEVEL: 'warn' };
    let server = await startServer(env);
    t.after(() => stopServer(server));
    assert.equal((await readyz(server)).status, 200);

    const load = new WriteLoad(server.url, auth, 4);
    load.start();
    const filler = join(dir, 'filler');
    let full: { status: number; detail?: string };
    let spooled: Awaited<ReturnType<typeof importBody>>;
    try {
      await load.acknowledgedAfter(0, 20);
      fillDisk(filler);
      await sleep(500);
      full = await readyz(server);
      spooled = await importBody(server, auth, `${JSON.stringify({ token: 'x', account: 'y' })}\n`.repeat(20_000));
      rmSync(filler);
      await load.acknowledgedAfter(Date.now(), 20);
    } finally {
      await load.stop();
    }
    assert.equal(full.status, 503, 'not ready while the disk is full');
    assert.match(full.detail ?? '', /disk .* is full/);
    assert.deepEqual(
      [spooled.status, spooled.retCode],
      [503, 1008004],
      `a full spool is the server's fault: ${spooled.message}`,
    );
    assert.match(spooled.message, /ENOSPC/);
    assert.equal((await readyz(server)).status, 200, 'ready again once there is room');
    assertHonest(load.answers);
    assert.deepEqual(readdirSync(join(dir, 'spool')), [], 'the failed spool file was removed');

    // Durable across the episode: a new process on the same file has every acknowledged binding.
    await stopServer(server);
    server = await startServer(env);
    const acknowledged = load.ok().flatMap((a) => a.tokens);
    const found = await boundTokens(server.url, auth, acknowledged);
    assert.equal(acknowledged.filter((token) => !found.has(token)).length, 0, 'acknowledged bindings lost');
    t.diagnostic(
      `${load.answers.length} answers (${load.answers.filter((a) => a.status === 503).length} refused while full), ` +
        `${acknowledged.length} acknowledged bindings all present after a restart`,
    );
  });

  it('a database file deleted under the running server: writes are refused with 1008004 and /readyz says why', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'bindery.db');
    const { auth } = await appOn(file);
    const server = await startServer({
      BINDERY_DATABASE_URL: `sqlite:${file}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'warn',
    });
    t.after(() => stopServer(server));
    const load = new WriteLoad(server.url, auth, 4);
    load.start();
    let deletedAt = 0;
    try {
      await load.acknowledgedAfter(0, 20);
      for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
      deletedAt = Date.now();
      await sleep(1000);
    } finally {
      await load.stop();
    }
    assertHonest(load.answers);
    const after = load.answers.filter((a) => a.started > deletedAt + 50);
    assert.ok(after.length > 10, 'writes were sent after the delete');
    assert.deepEqual(
      after.filter((a) => a.status !== 503).length,
      0,
      'a write was acknowledged into a deleted file (it would be lost at the next start)',
    );
    const ready = await readyz(server);
    assert.equal(ready.status, 503);
    assert.match(ready.detail ?? '', /was deleted or replaced/);
    assert.equal(server.child.exitCode, null);
  });

  it('spool files are 0600 in a 0700 directory of their own, and what a crash left there is removed at start', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'bindery.db');
    const { auth } = await appOn(file);
    const spoolDir = join(dir, 'spool');
    const env = {
      BINDERY_DATABASE_URL: `sqlite:${file}`,
      BINDERY_BOOTSTRAP_APP: 'false',
      BINDERY_LOG_LEVEL: 'warn',
      BINDERY_SPOOL_DIR: spoolDir,
    };
    let server = await startServer(env);
    // A body that arrives slowly: its spool file exists while we look.
    let push: (chunk: string | null) => void = () => undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (chunk) => (chunk === null ? controller.close() : controller.enqueue(new TextEncoder().encode(chunk)));
      },
    });
    const answer = fetch(`${server.url}/api/v1/import`, {
      method: 'POST',
      headers: { authorization: auth },
      body,
      duplex: 'half',
    } as RequestInit);
    push(`${JSON.stringify({ token: 't1', account: 'a1' })}\n`);
    let files: string[] = [];
    for (let i = 0; i < 50 && files.length === 0; i++) {
      await sleep(50);
      files = readdirSync(spoolDir);
    }
    assert.equal(files.length, 1, 'the body is being spooled');
    assert.equal(statSync(join(spoolDir, files[0]!)).mode & 0o777, 0o600);
    assert.equal(statSync(spoolDir).mode & 0o777, 0o700);
    push(null);
    assert.equal(((await (await answer).json()) as { imported: number }).imported, 1);
    assert.deepEqual(readdirSync(spoolDir), []);

    // A crash mid-import leaves its spool behind: the next start removes it.
    server.child.kill('SIGKILL');
    await server.exited;
    writeFileSync(join(spoolDir, 'import-999999999-left-by-a-crash.ndjson'), 'secret bindings\n');
    server = await startServer(env);
    t.after(() => stopServer(server));
    assert.deepEqual(readdirSync(spoolDir), [], 'the leftover spool file was removed at start');
  });
});
