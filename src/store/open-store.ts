/** Picks the backend named by BINDERY_DATABASE_URL: the one place that knows every backend. */
import { ConfigError } from '../config.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { BindingStore } from './store.ts';

export async function openStore(databaseUrl: string): Promise<BindingStore> {
  if (databaseUrl.startsWith('sqlite:')) return SqliteStore.open(databaseUrl.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('PostgreSQL is not supported by this version yet: use BINDERY_DATABASE_URL=sqlite:PATH.');
  }
  throw new ConfigError(`BINDERY_DATABASE_URL must start with sqlite: or postgres://, got ${JSON.stringify(databaseUrl)}`);
}
