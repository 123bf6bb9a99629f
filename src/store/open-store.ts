/** Picks the backend named by BINDERY_DATABASE_URL: the one place that knows every backend. */
import { ConfigError, type Config } from '../config.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { BindingStore } from './store.ts';

export type StoreSettings = Pick<Config, 'databaseUrl' | 'storeTimeoutMs' | 'pgPoolSize'>;

export async function openStore(settings: StoreSettings): Promise<BindingStore> {
  const url = settings.databaseUrl;
  if (url.startsWith('sqlite:')) return SqliteStore.open(url.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(url)) {
    return PostgresStore.open(url, { timeoutMs: settings.storeTimeoutMs, poolSize: settings.pgPoolSize });
  }
  throw new ConfigError(`BINDERY_DATABASE_URL must start with sqlite: or postgres://, got ${JSON.stringify(url)}`);
}
