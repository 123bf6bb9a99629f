/**
 * The operators' views in ops/: the alert rules pass `promtool check rules` and their own unit tests
 * (`promtool test rules`); a real Prometheus (Debian's) scrapes a running bindery under writes and
 * fires BinderyStoreUnavailable once the store is made unavailable (its database file deleted);
 * every query of the Grafana dashboard parses and runs on that Prometheus, on metrics bindery has.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/postgres-server.ts';
import { basicHeader, startWithFirstApp } from '../support/server-process.ts';

const OPS = fileURLToPath(new URL('../../ops/', import.meta.url));
const RULES = join(OPS, 'prometheus', 'bindery-alerts.yml');

function promtool(...args: string[]): string {
  const run = spawnSync('promtool', args, { cwd: join(OPS, 'prometheus'), encoding: 'utf8' });
  assert.equal(run.status, 0, `promtool ${args.join(' ')}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every dashboard query, with Grafana's variables given values Prometheus understands. */
function dashboardQueries(): string[] {
  const dashboard = JSON.parse(readFileSync(join(OPS, 'grafana', 'bindery-dashboard.json'), 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((p) =>
    p.targets.map((t) => t.expr.replaceAll('$job', '.+').replaceAll('$__rate_interval', '1m')),
  );
}

describe('monitoring: alert rules and dashboard', () => {
  it('the alert rules are valid and their unit tests pass', () => {
    assert.match(promtool('check', 'rules', RULES), /SUCCESS: 8 rules found/);
    assert.match(promtool('test', 'rules', 'bindery-alerts.test.yml'), /SUCCESS/);
  });

  it('a real Prometheus sees the store go away under writes and fires BinderyStoreUnavailable', async (t) => {
    const { server, dir, accessId, secretKey } = await startWithFirstApp(t);
    const db = join(dir, 'b.db');
    const target = new URL(server.url).host;

    // The rules as shipped, but for: 1m -> 2s, so the test need not wait out the real duration
    // (the unit tests above hold the durations).
    const rules = join(dir, 'rules.yml');
    writeFileSync(rules, readFileSync(RULES, 'utf8').replace(/for: \d+m/g, 'for: 2s'));
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: ['${rules}']`,
        'scrape_configs:',
        `  - job_name: bindery`,
        `    static_configs: [{ targets: ['${target}'] }]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const prometheus: ChildProcess = spawn(
      'prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    prometheus.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    t.after(() => prometheus.kill('SIGKILL'));
    const api = async <T>(path: string): Promise<T> => {
      const answer = (await (await fetch(`http://127.0.0.1:${port}/api/v1/${path}`)).json()) as {
        status: string;
        data: T;
        error?: string;
      };
      assert.equal(answer.status, 'success', `${path}: ${answer.error}`);
      return answer.data;
    };
    const query = (expr: string) =>
      api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `query?query=${encodeURIComponent(expr)}`,
      );
    const firing = async () =>
      (await api<{ alerts: { labels: { alertname: string }; state: string }[] }>('alerts')).alerts
        .filter((a) => a.state === 'firing')
        .map((a) => a.labels.alertname);

    // Writers keep going through all of it: an alert is about a server at work.
    const auth = basicHeader(accessId, secretKey);
    let writing = true;
    const answers = new Map<number, number>();
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const response = await fetch(`${server.url}/v3/device/account/batchoperate`, {
          method: 'POST',
          headers: { authorization: auth },
          body: JSON.stringify({
            operator_type: 1,
            token_accounts: [{ token: `w${w}-${i}`, account_list: [{ account: `u${w}` }] }],
          }),
        }).catch(() => undefined);
        if (response) answers.set(response.status, (answers.get(response.status) ?? 0) + 1);
        await response?.arrayBuffer();
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    t.after(async () => {
      writing = false;
      await Promise.all(writers);
    });

    await until(`Prometheus scrapes bindery as up, store up\n${log}`, async () => {
      const up = await query('bindery_store_up{job="bindery"}');
      return up.result[0]?.value[1] === '1' ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await firing(), [], 'nothing fires while the store answers');

    for (const expr of dashboardQueries()) {
      const result = await query(expr);
      assert.ok(Array.isArray(result.result), expr);
    }
    const known = (await (await fetch(`${server.url}/metrics`)).text()) + readFileSync('src/http/metrics.ts', 'utf8');
    for (const name of new Set(
      [...dashboardQueries(), readFileSync(RULES, 'utf8')].flatMap((text) => text.match(/bindery_[a-z0-9_]+/g) ?? []),
    )) {
      const base = name.replace(/_(bucket|count|sum)$/, '');
      assert.ok(known.includes(base), `${name} is a metric bindery exports`);
    }

    rmSync(db);
    const alerts = await until('BinderyStoreUnavailable fires', async () => {
      const names = await firing();
      return names.includes('BinderyStoreUnavailable') ? names : undefined;
    });
    assert.ok(alerts.includes('BinderyStoreUnavailable'));
    assert.equal((await fetch(`${server.url}/readyz`)).status, 503, 'readyz agrees');
    assert.ok(server.child.exitCode === null, 'bindery is still running');
    writing = false;
    await Promise.all(writers);
    assert.ok((answers.get(200) ?? 0) > 0, `writes were answered before: ${JSON.stringify([...answers])}`);
    assert.ok((answers.get(503) ?? 0) > 0, `writes were refused with 503 after: ${JSON.stringify([...answers])}`);
  });
});
