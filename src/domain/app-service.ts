/**
 * Managing apps (tenants): the one implementation behind the CLI's `bindery app …` commands and,
 * later, the admin API. Checks input, makes credentials, and rotates secrets with a grace period.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { AppExistsError } from '../errors.ts';
import type { AppCounts, BindingStore } from '../store/store.ts';
import { DEFAULT_POLICY, type App, type AppPolicy } from './types.ts';

/** Input that cannot become an app; the message says how to fix it. */
export class AppInputError extends Error {
  override name = 'AppInputError';
}

export const POLICY_LIMITS = {
  maxTokensPerAccount: { min: 1, max: 10_000, wire: 'max_tokens_per_account' },
  maxAccountsPerToken: { min: 1, max: 1_000, wire: 'max_accounts_per_token' },
} as const;

const ACCESS_ID = /^[0-9]{1,20}$/;
const SECRET_KEY = /^[0-9a-f]{32}$/;
const MAX_NAME_CHARS = 100;

export interface CreateAppInput {
  name: string;
  accessId?: string;
  secretKey?: string;
  policy?: Partial<AppPolicy>;
}

export const newSecretKey = (): string => randomBytes(16).toString('hex');
/** TPNS AccessIDs are 10 digits starting with 15. */
const newAccessId = (): string => `15${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;

/** The given limits, checked; absent (undefined) ones are dropped so they never override a default. */
function checkPolicy(policy: Partial<AppPolicy>): Partial<AppPolicy> {
  const checked: Partial<AppPolicy> = {};
  for (const [key, limit] of Object.entries(POLICY_LIMITS) as [keyof AppPolicy, (typeof POLICY_LIMITS)[keyof AppPolicy]][]) {
    const value = policy[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < limit.min || value > limit.max) {
      throw new AppInputError(`${limit.wire} must be a whole number from ${limit.min} to ${limit.max}, got ${String(value)}`);
    }
    checked[key] = value;
  }
  return checked;
}

export class AppService {
  constructor(
    private readonly store: BindingStore,
    private readonly secretGraceSeconds: number,
  ) {}

  async create(input: CreateAppInput): Promise<App> {
    const name = input.name.trim();
    if (name.length === 0 || name.length > MAX_NAME_CHARS) {
      throw new AppInputError(`the app name must be 1 to ${MAX_NAME_CHARS} characters, got ${name.length}`);
    }
    if ((input.accessId === undefined) !== (input.secretKey === undefined)) {
      throw new AppInputError('give both --access-id and --secret-key (to import existing TPNS credentials), or neither');
    }
    if (input.accessId !== undefined && !ACCESS_ID.test(input.accessId)) {
      throw new AppInputError(`the AccessID must be 1 to 20 digits, got ${JSON.stringify(input.accessId)}`);
    }
    if (input.secretKey !== undefined && !SECRET_KEY.test(input.secretKey)) {
      throw new AppInputError('the SecretKey must be 32 lowercase hex characters (like a TPNS SecretKey)');
    }
    const policy = { ...DEFAULT_POLICY, ...checkPolicy(input.policy ?? {}) };
    const secretKey = input.secretKey ?? newSecretKey();
    if (input.accessId !== undefined) return this.store.createApp({ accessId: input.accessId, name, secretKey, policy });
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.createApp({ accessId: newAccessId(), name, secretKey, policy });
      } catch (error) {
        if (!(error instanceof AppExistsError) || attempt >= 10) throw error;
      }
    }
  }

  async list(): Promise<(App & { counts: AppCounts })[]> {
    const apps = await this.store.listApps();
    return Promise.all(apps.map(async (app) => ({ ...app, counts: await this.store.countBindings(app.id) })));
  }

  async show(accessId: string): Promise<(App & { counts: AppCounts }) | undefined> {
    const app = await this.store.findApp(accessId);
    return app && { ...app, counts: await this.store.countBindings(app.id) };
  }

  /** A new SecretKey; the old one keeps working for the grace period so clients can be redeployed. */
  async rotateSecret(accessId: string, graceSeconds = this.secretGraceSeconds): Promise<App | undefined> {
    const app = await this.store.findApp(accessId);
    if (!app) return undefined;
    return this.store.updateApp(accessId, {
      secretKey: newSecretKey(),
      previousSecretKey: graceSeconds > 0 ? app.secretKey : null,
      previousSecretExpiresAt: graceSeconds > 0 ? Date.now() + graceSeconds * 1000 : null,
    });
  }

  async setPolicy(accessId: string, policy: Partial<AppPolicy>): Promise<App | undefined> {
    return this.store.updateApp(accessId, { policy: checkPolicy(policy) });
  }

  async delete(accessId: string): Promise<boolean> {
    return this.store.deleteApp(accessId);
  }

  /** On an empty store, creates the first app so a newcomer can call the API at once. */
  async bootstrap(): Promise<App | undefined> {
    if ((await this.store.listApps()).length > 0) return undefined;
    return this.create({ name: 'default' });
  }
}
