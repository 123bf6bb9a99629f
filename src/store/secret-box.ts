/**
 * The apps' secrets at rest (secret_key, previous_secret_key, webhook_secret): sealed with AES-256-GCM
 * under BINDERY_SECRETS_KEY when one is given, opened with it or with BINDERY_SECRETS_PREVIOUS_KEY.
 * A sealed value is `sealed:v1:<key id>:<base64url of IV, ciphertext and tag>`; the key id (the first
 * 8 hex digits of the key's SHA-256) says which key opens it, and the authenticated data (AccessID and
 * column) makes a value copied into another app or column fail to open. The stores seal what they
 * are given and open what they read (sqlite-store.ts, postgres-store.ts), so nothing above them sees
 * a sealed value, and nothing below them sees a clear one when a key is set.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { StoreError } from '../model/errors.ts';
import type { AppPatch, NewApp, SecretColumn, StoredSecret, WebhookEvent } from '../model/store.ts';
import type { App } from '../model/types.ts';

export interface SecretsKey {
  /** The first 8 hex digits of the key's SHA-256: names the key without giving it away. */
  id: string;
  key: Buffer;
}

/** How a store is opened as to secrets. */
export interface SecretsOptions {
  /** Default: no key (clear text). */
  box?: SecretBox;
  /** false: open without checking and sealing the stored secrets (`bindery secrets status` counts them). */
  atStart?: boolean;
}

const PREFIX = 'sealed:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const secretsKey = (key: Buffer): SecretsKey => ({
  id: createHash('sha256').update(key).digest('hex').slice(0, 8),
  key,
});

/** A sealed value this bindery cannot open: it refuses to start, or answers unavailable. */
export class SecretsKeyError extends StoreError {
  override name = 'SecretsKeyError';
}

const additionalData = (accessId: string, column: SecretColumn) => Buffer.from(`${accessId}\u0000${column}`);

export class SecretBox {
  /** No key: secrets are stored in clear text (and a sealed one cannot be opened). */
  static readonly none = new SecretBox(null, null);

  constructor(
    /** Seals every value written, and opens what it sealed. */
    readonly current: SecretsKey | null,
    /** Only opens: the key being rotated away from. */
    readonly previous: SecretsKey | null,
  ) {}

  /** The id of the key a stored value is sealed under; null for clear text. */
  static keyIdOf(stored: string): string | null {
    return stored.startsWith(PREFIX) ? stored.slice(PREFIX.length, PREFIX.length + 8) : null;
  }

  /** The key ids this box opens, for messages. */
  describe(): string {
    const given = [
      this.current && `BINDERY_SECRETS_KEY has id ${this.current.id}`,
      this.previous && `BINDERY_SECRETS_PREVIOUS_KEY has id ${this.previous.id}`,
    ].filter(Boolean);
    return given.length > 0 ? given.join(', ') : 'no BINDERY_SECRETS_KEY is set';
  }

  /** What is stored for `plain`: sealed under the current key, or the clear text without one. */
  seal(plain: string, accessId: string, column: SecretColumn): string {
    if (!this.current) return plain;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(additionalData(accessId, column));
    const body = Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${this.current.id}:${body.toString('base64url')}`;
  }

  /** The clear text of a stored value; SecretsKeyError when it is sealed under a key not given. */
  open(stored: string, accessId: string, column: SecretColumn): string {
    const id = SecretBox.keyIdOf(stored);
    if (id === null) return stored;
    const key = [this.current, this.previous].find((k) => k?.id === id);
    if (!key) {
      throw new SecretsKeyError(
        `app ${accessId}'s ${column} is sealed under the secrets key with id ${id}, and ${this.describe()}: ` +
          `set BINDERY_SECRETS_KEY (or BINDERY_SECRETS_KEY_FILE) to the key whose id is ${id} ` +
          '(`bindery secrets status` prints the ids of the keys it is given)',
      );
    }
    const body = Buffer.from(stored.slice(PREFIX.length + 9), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, body.subarray(0, IV_BYTES));
      decipher.setAAD(additionalData(accessId, column));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([
        decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretsKeyError(
        `app ${accessId}'s ${column} does not open under the secrets key with id ${id}: the stored value was ` +
          'altered, or copied from another app or column; set a new secret for the app (rotate its secret, or set its webhook again)',
      );
    }
  }

  /** A new app with its secret sealed. */
  sealNewApp(app: NewApp): NewApp {
    return { ...app, secretKey: this.seal(app.secretKey, app.accessId, 'secret_key') };
  }

  /** A patch with the secrets it sets sealed. */
  sealPatch(accessId: string, patch: AppPatch): AppPatch {
    const sealed = { ...patch };
    if (patch.secretKey !== undefined) sealed.secretKey = this.seal(patch.secretKey, accessId, 'secret_key');
    if (patch.previousSecretKey) {
      sealed.previousSecretKey = this.seal(patch.previousSecretKey, accessId, 'previous_secret_key');
    }
    if (patch.webhook) {
      sealed.webhook = { ...patch.webhook, secret: this.seal(patch.webhook.secret, accessId, 'webhook_secret') };
    }
    return sealed;
  }

  /** An app as stored, with its secrets opened. */
  openApp(app: App): App {
    return {
      ...app,
      secretKey: this.open(app.secretKey, app.accessId, 'secret_key'),
      previousSecretKey:
        app.previousSecretKey === null ? null : this.open(app.previousSecretKey, app.accessId, 'previous_secret_key'),
      webhook: app.webhook && { ...app.webhook, secret: this.open(app.webhook.secret, app.accessId, 'webhook_secret') },
    };
  }

  /** A webhook event as claimed, with its app's webhook secret opened. */
  openEvent(event: WebhookEvent): WebhookEvent {
    return { ...event, secret: this.open(event.secret, event.accessId, 'webhook_secret') };
  }
}

/** An app's secrets as stored (an App read before openApp), one entry per secret it has. */
export const storedSecretsOf = (app: App): StoredSecret[] => [
  { accessId: app.accessId, column: 'secret_key', value: app.secretKey },
  ...(app.previousSecretKey === null
    ? []
    : [{ accessId: app.accessId, column: 'previous_secret_key' as const, value: app.previousSecretKey }]),
  ...(app.webhook ? [{ accessId: app.accessId, column: 'webhook_secret' as const, value: app.webhook.secret }] : []),
];
