/**
 * Managing apps (tenants): the one implementation behind the CLI's `bindery app …` commands and,
 * the admin API. Checks input, makes credentials, rotates secrets with a grace period, and rewinds
 * an app's bindings to an earlier time (apply-rewind.ts).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { AppExistsError, AppNotFoundError, RewindRefusedError } from '../model/errors.ts';
import type { AppCounts, AppPatch, BindingStore, WebhookDelivery } from '../model/store.ts';
import { type App, type AppPolicy, BINDING_RULES, DEFAULT_POLICY, type RateLimit } from '../model/types.ts';
import { writeBatch } from './run-batch.ts';
import { inwardHostProblem } from './webhook-target.ts';

/** Input that cannot become an app; the message says how to fix it. */
export class AppInputError extends Error {
  override name = 'AppInputError';
}

/** A change that conflicts with the app's state now (not with the input itself). */
export class AppStateError extends Error {
  override name = 'AppStateError';
}

export const POLICY_LIMITS = {
  maxTokensPerAccount: { min: 1, max: 10_000, wire: 'max_tokens_per_account' },
  maxAccountsPerToken: { min: 1, max: 1_000, wire: 'max_accounts_per_token' },
  quarantineDays: { min: 1, max: 3650, wire: 'quarantine_days' },
  expiryWarningDays: { min: 0, max: 3650, wire: 'expiry_warning_days' },
} as const;
const TTL_LIMITS = { min: 1, max: 3650 } as const;

const ACCESS_ID = /^[0-9]{1,20}$/;
const SECRET_KEY = /^[0-9a-f]{32}$/;
const MAX_NAME_CHARS = 100;

export interface AppChanges {
  name?: string;
  policy?: Partial<AppPolicy>;
  /** null turns the rate limit off. */
  rateLimit?: RateLimit | null;
  /** A URL sets the webhook (with a new signing secret); null turns it off. */
  webhookUrl?: string | null;
}

export const RATE_LIMIT_LIMITS = { perSecond: { min: 0.01, max: 100_000 }, burst: { min: 1, max: 100_000 } } as const;
const MAX_WEBHOOK_URL = 2048;

export const newWebhookSecret = (): string => `whsec_${randomBytes(24).toString('hex')}`;

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME_CHARS) {
    throw new AppInputError(`the app name must be 1 to ${MAX_NAME_CHARS} characters, got ${trimmed.length}`);
  }
  return trimmed;
}

function checkRateLimit(limit: RateLimit): RateLimit {
  const { perSecond, burst } = RATE_LIMIT_LIMITS;
  if (typeof limit.perSecond !== 'number' || !(limit.perSecond >= perSecond.min && limit.perSecond <= perSecond.max)) {
    throw new AppInputError(
      `rate_limit.per_second must be a number from ${perSecond.min} to ${perSecond.max}, got ` +
        `${String(limit.perSecond)}`,
    );
  }
  if (!Number.isInteger(limit.burst) || limit.burst < burst.min || limit.burst > burst.max) {
    throw new AppInputError(
      `rate_limit.burst must be a whole number from ${burst.min} to ${burst.max}, got ${String(limit.burst)}`,
    );
  }
  return { perSecond: limit.perSecond, burst: limit.burst };
}

function checkWebhookUrl(url: string, allowPrivate: boolean): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppInputError(
      `webhook url must be an absolute http:// or https:// URL, got ${JSON.stringify(url.slice(0, 100))}`,
    );
  }
  if (!['http:', 'https:'].includes(parsed.protocol) || url.length > MAX_WEBHOOK_URL) {
    throw new AppInputError(`webhook url must be an http:// or https:// URL of at most ${MAX_WEBHOOK_URL} characters`);
  }
  const inward = allowPrivate ? null : inwardHostProblem(parsed);
  if (inward) throw new AppInputError(inward);
  return url;
}

export interface CreateAppInput {
  name: string;
  accessId?: string;
  secretKey?: string;
  policy?: Partial<AppPolicy>;
}

export const newSecretKey = (): string => randomBytes(16).toString('hex');
/** TPNS AccessIDs are 10 digits starting with 15. */
const newAccessId = (): string => `15${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;

/** The given policy, checked; absent (undefined) fields are dropped so they never override a default. */
function checkPolicy(policy: Partial<AppPolicy>): Partial<AppPolicy> {
  const checked: Partial<AppPolicy> = {};
  for (const [key, limit] of Object.entries(POLICY_LIMITS) as [
    keyof typeof POLICY_LIMITS,
    (typeof POLICY_LIMITS)[keyof typeof POLICY_LIMITS],
  ][]) {
    const value = policy[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < limit.min || value > limit.max) {
      throw new AppInputError(
        `${limit.wire} must be a whole number from ${limit.min} to ${limit.max}, got ${String(value)}`,
      );
    }
    checked[key] = value;
  }
  if (policy.bindingRules !== undefined) {
    if (!(BINDING_RULES as readonly string[]).includes(policy.bindingRules)) {
      throw new AppInputError(
        `binding_rules must be ${BINDING_RULES.map((r) => `"${r}"`).join(' or ')} (tpns: op 1 acts as op 2 and a ` +
          `token keeps one account per account_type), got ${JSON.stringify(policy.bindingRules)}`,
      );
    }
    checked.bindingRules = policy.bindingRules;
  }
  const ttl = policy.tokenTtlDays;
  if (ttl !== undefined) {
    if (ttl !== null && (!Number.isInteger(ttl) || ttl < TTL_LIMITS.min || ttl > TTL_LIMITS.max)) {
      throw new AppInputError(
        `token_ttl_days must be a whole number from ${TTL_LIMITS.min} to ${TTL_LIMITS.max}, or null to turn ` +
          `expiry off, got ${String(ttl)}`,
      );
    }
    checked.tokenTtlDays = ttl;
  }
  return checked;
}

/** The warning must come before the expiry it announces. */
function checkExpiry(policy: AppPolicy): void {
  if (policy.tokenTtlDays !== null && policy.expiryWarningDays >= policy.tokenTtlDays) {
    throw new AppInputError(
      `expiry_warning_days (${policy.expiryWarningDays}) must be less than token_ttl_days (${policy.tokenTtlDays}): ` +
        'the warning goes out that many days before a token expires',
    );
  }
}

export class AppService {
  constructor(
    private readonly store: BindingStore,
    private readonly secretGraceSeconds: number,
    /** Webhook URLs may name loopback, link-local and private hosts (BINDERY_WEBHOOK_ALLOW_PRIVATE). */
    private readonly webhookAllowPrivate = false,
  ) {}

  async create(input: CreateAppInput): Promise<App> {
    const name = checkName(input.name);
    if ((input.accessId === undefined) !== (input.secretKey === undefined)) {
      throw new AppInputError(
        'give both --access-id and --secret-key (to import existing TPNS credentials), or neither',
      );
    }
    if (input.accessId !== undefined && !ACCESS_ID.test(input.accessId)) {
      throw new AppInputError(`the AccessID must be 1 to 20 digits, got ${JSON.stringify(input.accessId)}`);
    }
    if (input.secretKey !== undefined && !SECRET_KEY.test(input.secretKey)) {
      throw new AppInputError('the SecretKey must be 32 lowercase hex characters (like a TPNS SecretKey)');
    }
    const policy = { ...DEFAULT_POLICY, ...checkPolicy(input.policy ?? {}) };
    checkExpiry(policy);
    const secretKey = input.secretKey ?? newSecretKey();
    if (input.accessId !== undefined)
      return this.store.createApp({ accessId: input.accessId, name, secretKey, policy });
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

  /**
   * A new SecretKey; the old one keeps working for the grace period so clients can be redeployed.
   * An app keeps one rotated-out secret: while it is still in its grace period, rotating again
   * would cut it off early, so that is refused unless `endGrace` says to (a secret that leaked).
   */
  async rotateSecret(
    accessId: string,
    graceSeconds = this.secretGraceSeconds,
    endGrace = false,
  ): Promise<App | undefined> {
    const app = await this.store.findApp(accessId);
    if (!app) return undefined;
    const graceEnds = app.previousSecretKey !== null ? (app.previousSecretExpiresAt ?? 0) : 0;
    if (graceEnds > Date.now() && !endGrace) {
      const until = new Date(graceEnds).toISOString();
      throw new AppStateError(
        `app ${accessId}: the SecretKey rotated out last time still works until ${until} (its grace period), and ` +
          `rotating again would end that early; rotate after ${until}, or end its grace now with end_previous_grace: ` +
          `true (CLI: --end-grace), e.g. if it leaked`,
      );
    }
    return this.store.updateApp(accessId, {
      secretKey: newSecretKey(),
      previousSecretKey: graceSeconds > 0 ? app.secretKey : null,
      previousSecretExpiresAt: graceSeconds > 0 ? Date.now() + graceSeconds * 1000 : null,
    });
  }

  async setPolicy(accessId: string, policy: Partial<AppPolicy>): Promise<App | undefined> {
    return this.update(accessId, { policy });
  }

  /** Checks every change first, then applies them together: all or nothing. */
  async update(accessId: string, changes: AppChanges): Promise<App | undefined> {
    const patch: AppPatch = {};
    if (changes.name !== undefined) patch.name = checkName(changes.name);
    if (changes.policy !== undefined) {
      patch.policy = checkPolicy(changes.policy);
      if (patch.policy.tokenTtlDays !== undefined || patch.policy.expiryWarningDays !== undefined) {
        const app = await this.store.findApp(accessId);
        if (app) checkExpiry({ ...app.policy, ...patch.policy });
      }
    }
    if (changes.rateLimit !== undefined)
      patch.rateLimit = changes.rateLimit === null ? null : checkRateLimit(changes.rateLimit);
    if (changes.webhookUrl !== undefined) {
      patch.webhook =
        changes.webhookUrl === null
          ? null
          : { url: checkWebhookUrl(changes.webhookUrl, this.webhookAllowPrivate), secret: newWebhookSecret() };
    }
    return this.store.updateApp(accessId, patch);
  }

  async deliveries(accessId: string, limit: number): Promise<WebhookDelivery[] | undefined> {
    const app = await this.store.findApp(accessId);
    return app && this.store.webhookDeliveries(app.id, limit);
  }

  /**
   * Makes the app's bindings what they were at `to` (an ISO 8601 time, or Unix ms), as one write;
   * `dryRun` counts what would change and changes nothing. Undefined when there is no such app;
   * AppInputError for a time that is not one, AppStateError when the history cannot answer.
   */
  async rewind(
    accessId: string,
    to: string | number,
    dryRun: boolean,
    requestId?: string,
  ): Promise<{ to: number; bind: number; unbind: number; dryRun: boolean; revision: number } | undefined> {
    const at = typeof to === 'number' ? to : /^\d+$/.test(to) ? Number(to) : Date.parse(to);
    if (!Number.isSafeInteger(at) || at < 0)
      throw new AppInputError(
        `to: ${JSON.stringify(to)} is not a time: give an ISO 8601 time with its zone, such as ` +
          '2026-12-07T09:30:00Z, or Unix milliseconds',
      );
    if (at > Date.now())
      throw new AppInputError(`to: ${new Date(at).toISOString()} is in the future: rewind to a time that has passed`);
    const app = await this.store.findApp(accessId);
    if (!app) return undefined;
    try {
      const result = await writeBatch(this.store, app.id, {
        kind: 'rewind',
        to: at,
        dryRun,
        ...(requestId ? { requestId } : {}),
      });
      const counts = result.rewind ?? { bind: 0, unbind: 0, dryRun };
      return { to: at, ...counts, revision: result.revision };
    } catch (error) {
      if (error instanceof RewindRefusedError) throw new AppStateError(`app ${accessId}: ${error.message}`);
      if (error instanceof AppNotFoundError) return undefined;
      throw error;
    }
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
