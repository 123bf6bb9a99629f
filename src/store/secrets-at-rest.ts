/**
 * The stored secrets as a whole: checked and sealed each time a store opens, counted for `bindery
 * secrets status`, and rewritten under the current key by `bindery secrets rotate-key`. One value
 * at a time, each replaced only if no one changed it meanwhile, so they run beside live traffic.
 */
import type { BindingStore, StoredSecret, StoreLog } from '../model/store.ts';
import { SecretBox, SecretsKeyError } from './secret-box.ts';

type SecretsStore = Pick<BindingStore, 'storedSecrets' | 'replaceStoredSecret'>;

export interface SecretsCount {
  /** Secrets stored in clear text. */
  clear: number;
  /** Sealed secrets by the id of their key. */
  sealed: Record<string, number>;
}

export function countSecrets(stored: StoredSecret[]): SecretsCount {
  const count: SecretsCount = { clear: 0, sealed: {} };
  for (const s of stored) {
    const id = SecretBox.keyIdOf(s.value);
    if (id === null) count.clear++;
    else count.sealed[id] = (count.sealed[id] ?? 0) + 1;
  }
  return count;
}

/**
 * At every open: refuses (SecretsKeyError) when a stored secret does not open with the keys given;
 * with a current key, seals the secrets still in clear text; without one, says once that they are
 * stored in clear text. Values sealed under the previous key stay until `bindery secrets rotate-key`,
 * so that instances not yet given the new key keep opening them. Returns how many it sealed.
 */
export async function sealAtStart(store: SecretsStore, box: SecretBox, log?: StoreLog): Promise<number> {
  const stored = await store.storedSecrets();
  for (const s of stored) box.open(s.value, s.accessId, s.column);
  if (!box.current) {
    log?.warn(
      'app secrets are stored in clear text (no BINDERY_SECRETS_KEY): anyone with a copy of the database can sign ' +
        'as every app; give bindery a key in BINDERY_SECRETS_KEY (`openssl rand -base64 32`) to seal them (README, "Secrets at rest")',
    );
    return 0;
  }
  let sealed = 0;
  for (const s of stored) {
    if (SecretBox.keyIdOf(s.value) !== null) continue;
    if (await store.replaceStoredSecret(s, box.seal(s.value, s.accessId, s.column))) sealed++;
  }
  if (sealed > 0)
    log?.info(`sealed ${sealed} app secrets stored in clear text under the secrets key ${box.current.id}`);
  return sealed;
}

export interface RewriteProgress {
  done: number;
  total: number;
}

const REWRITE_PASSES = 5;

/**
 * Rewrites every stored secret that is not as the box writes it (sealed under the current key, or
 * clear text without one). A value that changed meanwhile is read again; one that keeps coming back
 * under another key means an instance still seals with it, which is refused after a few passes.
 * Returns how many values were rewritten.
 */
export async function rewriteSecrets(
  store: SecretsStore,
  box: SecretBox,
  onProgress: (progress: RewriteProgress) => void = () => {},
): Promise<number> {
  const target = box.current?.id ?? null;
  let rewritten = 0;
  for (let pass = 1; ; pass++) {
    const pending = (await store.storedSecrets()).filter((s) => SecretBox.keyIdOf(s.value) !== target);
    if (pending.length === 0) return rewritten;
    if (pass > REWRITE_PASSES) {
      const ids = [...new Set(pending.map((s) => SecretBox.keyIdOf(s.value) ?? 'clear text'))].join(', ');
      throw new SecretsKeyError(
        `${pending.length} app secrets were written again as ${ids} while they were being rewritten: an instance ` +
          `still runs with another BINDERY_SECRETS_KEY; give every instance the key ${target ?? '(none)'} first, then run this again`,
      );
    }
    let done = 0;
    for (const s of pending) {
      const value = box.seal(box.open(s.value, s.accessId, s.column), s.accessId, s.column);
      if (await store.replaceStoredSecret(s, value)) rewritten++;
      onProgress({ done: ++done, total: pending.length });
    }
  }
}
