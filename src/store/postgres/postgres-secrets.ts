/** The apps' secrets as stored, read and replaced one by one for secrets-at-rest.ts. */
import { StoreError } from '../../model/errors.ts';
import type { StoredSecret } from '../../model/store.ts';
import { type AppRow, rowToApp } from '../rows.ts';
import { storedSecretsOf } from '../secret-box.ts';
import type { PostgresConnection } from './postgres-connection.ts';
import { SQL } from './postgres-queries.ts';

const closed = () => new StoreError('the store is closed', true);

export async function storedSecrets(db: PostgresConnection, closing: boolean): Promise<StoredSecret[]> {
  if (closing) throw closed();
  const { rows } = await db.query<AppRow>('read stored secrets', SQL.appsAll, []);
  return rows.flatMap((row) => storedSecretsOf(rowToApp(row)));
}

export async function replaceStoredSecret(
  db: PostgresConnection,
  closing: boolean,
  secret: StoredSecret,
  value: string,
): Promise<boolean> {
  if (closing) throw closed();
  const params = [secret.column, value, secret.accessId, secret.value];
  return ((await db.query('replace a stored secret', SQL.secretReplace, params)).rowCount ?? 0) > 0;
}
