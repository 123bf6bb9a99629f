/** Picks the backend named by BINDERY_DATABASE_URL: the one place that knows every backend. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Config, ConfigError } from '../config.ts';
import type { BindingStore, StoreLog } from '../model/store.ts';

import type { MigrationStatus } from './migrations.ts';
import { postgresMigrationStatus } from './postgres/postgres-schema.ts';
import { PostgresStore } from './postgres/postgres-store.ts';
import { SecretBox, type SecretsOptions, secretsKey } from './secret-box.ts';
import { sqliteMigrationStatus } from './sqlite/sqlite-schema.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

export type StoreSettings = Pick<Config, 'databaseUrl' | 'storeTimeoutMs' | 'pgPoolSize'> &
  Partial<
    Pick<
      Config,
      | 'databaseReadUrls'
      | 'replicaWaitMs'
      | 'replicaMaxLagMs'
      | 'sqliteSynchronous'
      | 'secretsKey'
      | 'secretsPreviousKey'
    >
  >;

export interface OpenStoreOptions {
  /**
   * false (the server): a PostgreSQL that cannot be reached at start does not fail the open; the
   * store answers unavailable and connects in the background. true (default, the CLI): it fails.
   */
  waitForDatabase?: boolean;
  log?: StoreLog;
  /**
   * Refuse (StoreMissingError) rather than create an empty store: for commands that only read or
   * change what is there, so that one run in the wrong folder does not answer from a new empty file.
   */
  mustExist?: boolean;
  /** false: open without checking and sealing the stored secrets (sealAtStart), to count them. */
  checkSecrets?: boolean;
}

/** The keys of BINDERY_SECRETS_KEY and BINDERY_SECRETS_PREVIOUS_KEY. */
export const secretBoxOf = (settings: StoreSettings): SecretBox =>
  new SecretBox(
    settings.secretsKey ? secretsKey(settings.secretsKey) : null,
    settings.secretsPreviousKey ? secretsKey(settings.secretsPreviousKey) : null,
  );

/** The store named was not found, and the command is not one that creates it. */
export class StoreMissingError extends Error {
  override name = 'StoreMissingError';
}

/** Where a store lives, for people: an absolute SQLite path, or the PostgreSQL URL without its password. */
export function describeStore(url: string): string {
  if (url.startsWith('sqlite:')) return `sqlite:${resolve(url.slice('sqlite:'.length))}`;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres (unparsable URL)';
  }
}

export async function openStore(settings: StoreSettings, options: OpenStoreOptions = {}): Promise<BindingStore> {
  const url = settings.databaseUrl;
  const secrets: SecretsOptions = { box: secretBoxOf(settings), atStart: options.checkSecrets !== false };
  if (url.startsWith('sqlite:')) {
    const path = resolve(url.slice('sqlite:'.length));
    if (options.mustExist && !existsSync(path)) {
      throw new StoreMissingError(
        `no bindery database at ${path} (BINDERY_DATABASE_URL=${url}, relative to ${process.cwd()}): run the command ` +
          `where the server runs, or set BINDERY_DATABASE_URL to its database, e.g. ` +
          `sqlite:/srv/bindery/data/bindery.db; \`bindery app create\` or \`bindery migrate\` makes a new one`,
      );
    }
    return SqliteStore.open(path, settings.sqliteSynchronous, options.log, secrets);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    if (options.mustExist && !(await PostgresStore.hasSchema(url, settings.storeTimeoutMs))) {
      throw new StoreMissingError(
        `the PostgreSQL database ${describeStore(url)} has no bindery schema: check BINDERY_DATABASE_URL, ` +
          'or run `bindery migrate` (or `bindery app create`) to set it up',
      );
    }
    return PostgresStore.open(url, {
      timeoutMs: settings.storeTimeoutMs,
      poolSize: settings.pgPoolSize,
      readUrls: settings.databaseReadUrls ?? [],
      ...(settings.replicaWaitMs !== undefined ? { replicaWaitMs: settings.replicaWaitMs } : {}),
      ...(settings.replicaMaxLagMs !== undefined ? { replicaMaxLagMs: settings.replicaMaxLagMs } : {}),
      ...options,
      secrets,
    });
  }
  throw new ConfigError(`BINDERY_DATABASE_URL must start with sqlite: or postgres://, got ${JSON.stringify(url)}`);
}

/** The applied and pending migrations of the store named, changing nothing (a missing SQLite file is not made). */
export async function migrationStatusOf(settings: StoreSettings): Promise<MigrationStatus> {
  const url = settings.databaseUrl;
  if (url.startsWith('sqlite:')) return sqliteMigrationStatus(resolve(url.slice('sqlite:'.length)));
  if (/^postgres(ql)?:\/\//.test(url)) return postgresMigrationStatus(url, settings.storeTimeoutMs);
  throw new ConfigError(`BINDERY_DATABASE_URL must start with sqlite: or postgres://, got ${JSON.stringify(url)}`);
}
