import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crashRun } from '../support/crash-harness.ts';
import { tempDir } from '../support/helpers.ts';
import { TestPostgres } from '../support/postgres-server.ts';
import { cli } from '../support/server-process.ts';
import { size } from '../support/soak.ts';

const KILLS = size(3, 25);

let postgres: TestPostgres;
before(async () => {
  postgres = await TestPostgres.start();
});
after(() => postgres?.destroy());

describe(`kill -9 under concurrent writes (${KILLS} kills)`, () => {
  for (const backend of ['SQLite', 'PostgreSQL'] as const) {
    it(`${backend}: every answered change survives, and no request is there in part`, async (t) => {
      const url = backend === 'SQLite' ? `sqlite:${join(tempDir(t), 'b.db')}` : await postgres.createDatabase();
      const env = { BINDERY_DATABASE_URL: url, BINDERY_BOOTSTRAP_APP: 'false', BINDERY_LOG_LEVEL: 'warn' };
      const app = JSON.parse(cli(['app', 'create', '--name', 'crash', '--json'], env).stdout) as {
        access_id: string;
        secret_key: string;
      };
      const report = await crashRun(env, app, KILLS);
      t.diagnostic(`${backend}: ${JSON.stringify(report)}`);
      assert.ok(report.answered > KILLS * 5, `enough writes were answered: ${report.answered}`);
      assert.equal(report.lost, 0, 'answered changes lost');
      assert.equal(report.partial, 0, 'requests applied in part');
      assert.ok(report.feedbackAnswered > 0, 'feedback was answered between the kills');
      assert.equal(report.feedbackLost, 0, 'answered quarantines lost');
      assert.equal(report.feedbackPartial, 0, 'feedback applied in part');
    });
  }
});
