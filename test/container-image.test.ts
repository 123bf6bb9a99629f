/**
 * The image from the root Containerfile, built and run with Debian's podman (runc, cgroupfs: what
 * these machines run): it serves as a non-root user from its volume, answers a bind and a query,
 * reports healthy, stops on SIGTERM with exit code 0, and a new container on the same volume finds
 * the data. No registry is reachable here, so the Debian base is made with mmdebstrap and passed as
 * BASE (kept as localhost/bindery-base:bookworm for the next run).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/helpers.ts';
import { freePort } from './support/postgres-server.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASE = 'localhost/bindery-base:bookworm';
const GLOBAL = ['--runtime', 'runc', '--cgroup-manager=cgroupfs'];
// The machine cannot raise podman's default limits (no CAP_SYS_RESOURCE): give ones it can grant.
const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1000:1000'];

function podman(args: string[], timeout = 600_000): { status: number; stdout: string; stderr: string } {
  const run = spawnSync('podman', [...GLOBAL, ...args], { encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 });
  return { status: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

function ok(args: string[], timeout?: number): string {
  const run = podman(args, timeout);
  assert.equal(run.status, 0, `podman ${args.join(' ')}:\n${run.stderr}\n${run.stdout}`);
  return run.stdout.trim();
}

/** The CA bundle npm trusts here (a proxy that re-signs TLS), handed to the build as a secret. */
function caBundle(): string | undefined {
  if (process.env.NODE_EXTRA_CA_CERTS) return process.env.NODE_EXTRA_CA_CERTS;
  const cafile = spawnSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).stdout.trim();
  return cafile && cafile !== 'null' && cafile !== 'undefined' ? cafile : undefined;
}

function ensureBase(t: TestContext): void {
  if (podman(['image', 'exists', BASE]).status === 0) return;
  const tar = join(tempDir(t, 'bindery-base-'), 'base.tar');
  t.diagnostic('making the Debian base with mmdebstrap (~20 s)');
  execFileSync('mmdebstrap', ['--variant=minbase', '--quiet', 'bookworm', tar], { stdio: 'pipe', timeout: 600_000 });
  ok(['import', tar, BASE]);
}

async function waitReady(url: string, container: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {}
    assert.ok(Date.now() < deadline, `not ready in 60 s:\n${podman(['logs', container]).stdout}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the container image', () => {
  it('builds from a plain Debian, serves from its volume as non-root, stops on SIGTERM and keeps the data', {
    timeout: 20 * 60_000,
  }, async (t) => {
    ensureBase(t);
    const tag = `localhost/bindery-test:${randomUUID().slice(0, 8)}`;
    const volume = `bindery-test-${randomUUID().slice(0, 8)}`;
    const ca = caBundle();
    ok(
      [
        'build',
        '--format',
        'docker', // OCI images drop HEALTHCHECK
        '--layers=false', // no intermediate images left behind by each run
        '--network',
        'host',
        ...LIMITS,
        '--build-arg',
        `BASE=${BASE}`,
        ...(ca ? ['--secret', `id=npm_ca,src=${ca}`] : []),
        '-t',
        tag,
        ROOT,
      ],
      15 * 60_000,
    );
    t.after(() => {
      podman(['rm', '-f', 'bindery-test-a', 'bindery-test-b']);
      podman(['volume', 'rm', '-f', volume]);
      podman(['rmi', '-f', tag]);
    });
    const [inspected] = JSON.parse(ok(['image', 'inspect', tag])) as {
      Config: { User: string; Entrypoint: string[]; Volumes: Record<string, object> };
      Healthcheck?: { Test: string[] };
    }[];
    const image = inspected!.Config;
    assert.equal(image.User, 'bindery');
    assert.deepEqual(Object.keys(image.Volumes), ['/var/lib/bindery']);
    assert.equal(image.Entrypoint[0], 'node', 'exec form: node is PID 1 and gets SIGTERM');
    assert.match(inspected!.Healthcheck?.Test.join(' ') ?? '', /readyz/);

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const run = (name: string) =>
      ok([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        'host',
        ...LIMITS,
        '-e',
        `BINDERY_PORT=${port}`,
        '-v',
        `${volume}:/var/lib/bindery`,
        tag,
      ]);
    run('bindery-test-a');
    await waitReady(url, 'bindery-test-a');
    assert.match(ok(['exec', 'bindery-test-a', 'id', '-u']), /^[1-9]\d*$/, 'not root');
    const credentials = ok(['exec', 'bindery-test-a', 'cat', '/var/lib/bindery/first-app-credentials.txt']);
    const accessId = /AccessID:\s+(\d+)/.exec(credentials)![1]!;
    const secretKey = /SecretKey:\s+([0-9a-f]{32})/.exec(credentials)![1]!;
    assert.doesNotMatch(podman(['logs', 'bindery-test-a']).stdout, new RegExp(secretKey), 'not in the container log');
    const modes = ok([
      'exec',
      'bindery-test-a',
      'stat',
      '-c',
      '%a %n',
      '/var/lib/bindery',
      '/var/lib/bindery/bindery.db',
    ]);
    assert.equal(modes, '700 /var/lib/bindery\n600 /var/lib/bindery/bindery.db');
    const auth = `Basic ${Buffer.from(`${accessId}:${secretKey}`).toString('base64')}`;
    const post = async (path: string, body: unknown) =>
      (
        await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: auth }, body: JSON.stringify(body) })
      ).json();
    assert.deepEqual(
      await post('/v3/device/account/batchoperate', {
        operator_type: 1,
        token_accounts: [{ token: 'phone-1', account_list: [{ account: 'alice' }] }],
      }),
      { ret_code: 0, err_msg: 'ok', retCode: 0, errMsg: 'ok', result: ['0'] },
    );
    assert.equal(podman(['healthcheck', 'run', 'bindery-test-a']).status, 0, 'HEALTHCHECK on /readyz answers healthy');
    assert.match(ok(['exec', 'bindery-test-a', 'bindery', 'app', 'list', '--json']), new RegExp(accessId), 'the CLI');

    ok(['stop', '--time', '30', 'bindery-test-a']);
    assert.equal(ok(['inspect', 'bindery-test-a', '--format', '{{.State.ExitCode}}']), '0', 'SIGTERM: a clean exit');
    assert.match(podman(['logs', 'bindery-test-a']).stdout, /shut down cleanly/);

    run('bindery-test-b');
    await waitReady(url, 'bindery-test-b');
    assert.deepEqual(
      (
        (await post('/v3/device/account/query', { operator_type: 1, account_list: [{ account: 'alice' }] })) as {
          account_tokens: unknown;
        }
      ).account_tokens,
      [{ account: 'alice', account_type: 0, token_list: ['phone-1'] }],
      'a new container on the same volume finds the data',
    );
  });
});
