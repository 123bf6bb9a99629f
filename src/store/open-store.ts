/** Picks the backend named by BINDERY_DATABASE_URL: the one place that knows every backend. */
import { ConfigError, type Config } from '../config.ts';
import type { StoreLog } from './postgres/postgres-connection.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { BindingStore } from './store.ts';

export type StoreSettings = Pick<Config, 'databaseUrl' | 'storeTimeoutMs' | 'pgPoolSize'>;

export interface OpenStoreOptions {
  /**
   * false (the server): a PostgreSQL that cannot be reached at start does not fail the open; the
   * store answers unavailable and connects in the background. true (default, the CLI): it fails.
   */
  waitForDatabase?: boolean;
  log?: StoreLog;
}

export async function openStore(settings: StoreSettings, options: OpenStoreOptions = {}): Promise<BindingStore> {
  const url = settings.databaseUrl;
  if (url.startsWith('sqlite:')) return SqliteStore.open(url.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(url)) {
    return PostgresStore.open(url, { timeoutMs: settings.storeTimeoutMs, poolSize: settings.pgPoolSize, ...options });
  }
  throw new ConfigError(`BINDERY_DATABASE_URL must start with sqlite: or postgres://, got ${JSON.stringify(url)}`);
}
