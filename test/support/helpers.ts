/** Shared test fixtures: each test gets its own temp-dir SQLite store and its own app. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { AppService } from '../../src/domain/app-service.ts';
import type { BindingStore } from '../../src/model/store.ts';
import { type App, type BatchCommand, type Binding, DEFAULT_POLICY } from '../../src/model/types.ts';
import { SQL as LITE } from '../../src/store/sqlite/sqlite-queries.ts';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/sqlite-schema.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

export function tempDir(t: TestContext, prefix = 'bindery-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function sqliteStore(t: TestContext): Promise<{ store: SqliteStore; path: string }> {
  const path = join(tempDir(t), 'bindery.db');
  const store = await SqliteStore.open(path);
  t.after(() => store.close());
  return { store, path };
}

/** A fresh SQLite store with one app on the default policy. */
export async function sqliteStoreWithApp(t: TestContext): Promise<{ store: SqliteStore; path: string; app: App }> {
  const { store, path } = await sqliteStore(t);
  const app = await store.createApp({
    accessId: '1500000001',
    name: 'x',
    secretKey: 'a'.repeat(32),
    policy: DEFAULT_POLICY,
  });
  return { store, path, app };
}

/** A command binding `token` to `account` (account_type 0), as the store takes it. */
export const bindTo = (token: string, account: string): BatchCommand => ({
  elements: [{ op: 1, token, accounts: [{ account, accountType: 0 }] }],
  platform: null,
  opType: null,
  opId: null,
});

/** A command binding `token` to alice. */
export const bindAlice = (token: string): BatchCommand => bindTo(token, 'alice');

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}

export interface TestServer {
  app: FastifyInstance;
  store: BindingStore;
  tenant: App;
  service: AppService;
  config: Config;
}

/** A Fastify instance on a fresh store with one app; tests drive it with app.inject. */
export async function testServer(t: TestContext, overrides: Partial<Config> = {}): Promise<TestServer> {
  const { store, path } = await sqliteStore(t);
  return serverOn(t, store, { spoolDir: join(dirname(path), 'spool'), dataDir: dirname(path), ...overrides });
}

/** As testServer, on a store the caller opened (and closes). */
export async function serverOn(
  t: TestContext,
  store: BindingStore,
  overrides: Partial<Config> = {},
): Promise<TestServer> {
  const config = testConfig(overrides);
  const app = await buildApp(config, store);
  t.after(() => app.close());
  const service = new AppService(store, config.secretGraceSeconds);
  const tenant = await service.create({ name: 'test' });
  return { app, store, tenant, service, config };
}

/** Every binding of the app, read through the store's export (one snapshot). */
export async function allBindings(store: BindingStore, appId: number, pageSize = 1000): Promise<Binding[]> {
  const all: Binding[] = [];
  for await (const page of store.exportBindings(appId, pageSize)) all.push(...page);
  return all;
}

export const basic = (app: Pick<App, 'accessId' | 'secretKey'>): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${app.accessId}:${app.secretKey}`).toString('base64')}`,
});

export const BATCH = '/v3/device/account/batchoperate';
export const QUERY = '/v3/device/account/query';

/** POSTs a body (object -> JSON, string -> as is) and returns status and parsed JSON. */
export async function post(
  server: Pick<TestServer, 'app'>,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const response = await server.app.inject({ method: 'POST', url: path, payload, headers });
  return { status: response.statusCode, body: response.json() };
}

/** The four fields every TPNS answer carries, with equal values. */
export function statusOf(retCode: number, message: string): Record<string, unknown> {
  return { ret_code: retCode, err_msg: message, retCode, errMsg: message };
}

/** One op-1 batch binding alice to t1, as raw JSON. */
export const BIND_ONE = JSON.stringify({
  operator_type: 1,
  token_accounts: [{ token: 't1', account_list: [{ account: 'alice' }] }],
});

/** A raw POST through app.inject, for tests that look at the whole response (headers included). */
export const send = (server: Pick<TestServer, 'app'>, url: string, payload: string, headers: Record<string, string>) =>
  server.app.inject({ method: 'POST', url, payload, headers });

/** A SQLite file as the release of schema `version` left it, holding one app (with `secretKey`) with one binding. */
export function sqliteAt(path: string, version: number, secretKey = 'k'.repeat(32)): void {
  const db = new Database(path);
  db.exec(LITE.migrationsTable);
  for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= version)) {
    db.exec(m.sql);
    db.prepare(LITE.migrationRecord).run(m.version, m.name, Date.now());
  }
  db.exec(`INSERT INTO apps (id, access_id, name, secret_key, max_tokens_per_account, max_accounts_per_token, created_at)
    VALUES (1, '1500000001', 'one', '${secretKey}', 100, 10, 0)`);
  db.exec(`INSERT INTO bindings (app_id, token, account, account_type, bound_at) VALUES (1, 'phone', 'alice', 0, 1)`);
  db.close();
}
