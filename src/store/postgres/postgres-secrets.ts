/** The apps' secrets as stored, read and replaced one by one for secrets-at-rest.ts. */
import { StoreError } from '../../model/errors.ts';
import type { StoredSecret } from '../../model/store.ts';
import { type AppRow, rowToApp } from '../rows.ts';
import { SecretBox, storedSecretsOf } from '../secret-box.ts';
import type { PostgresConnection } from './postgres-connection.ts';
import { SQL } from './postgres-queries.ts';
import { POSTGRES_SEALED_SECRETS } from './postgres-schema.ts';

const closed = () => new StoreError('the store is closed', true);

export async function storedSecrets(db: PostgresConnection, closing: boolean): Promise<StoredSecret[]> {
  if (closing) throw closed();
  const { rows } = await db.query<AppRow>('read stored secrets', SQL.appsAll, []);
  return rows.flatMap((row) => storedSecretsOf(rowToApp(row)));
}

/** In one transaction with the raise of oldest_reader that a sealed value needs. */
export async function replaceStoredSecret(
  db: PostgresConnection,
  closing: boolean,
  secret: StoredSecret,
  value: string,
): Promise<boolean> {
  if (closing) throw closed();
  return db.transaction('replace a stored secret', async (client) => {
    const params = [secret.column, value, secret.accessId, secret.value];
    const replaced = ((await client.query(SQL.secretReplace, params)).rowCount ?? 0) > 0;
    if (replaced && SecretBox.keyIdOf(value) !== null)
      await client.query(SQL.oldestReaderRecord, [POSTGRES_SEALED_SECRETS]);
    return replaced;
  });
}
