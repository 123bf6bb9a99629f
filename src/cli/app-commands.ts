/** `bindery app …`: manage apps straight on the store named by BINDERY_DATABASE_URL. */
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { AppInputError, AppService } from '../domain/app-service.ts';
import type { App } from '../domain/types.ts';
import { AppExistsError } from '../errors.ts';
import { openStore } from '../store/open-store.ts';
import type { AppCounts } from '../store/store.ts';

/** Exit codes scripts can rely on. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, NOT_FOUND: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
  ) {
    super(message);
  }
}

type Counted = App & { counts?: AppCounts };

/** The flat JSON form of an app; the secret only where the command shows it. */
function appJson(app: Counted, withSecret: boolean): Record<string, unknown> {
  return {
    access_id: app.accessId,
    name: app.name,
    ...(withSecret ? { secret_key: app.secretKey } : {}),
    max_tokens_per_account: app.policy.maxTokensPerAccount,
    max_accounts_per_token: app.policy.maxAccountsPerToken,
    created_at: new Date(app.createdAt).toISOString(),
    ...(app.previousSecretExpiresAt && app.previousSecretExpiresAt > Date.now()
      ? { previous_secret_valid_until: new Date(app.previousSecretExpiresAt).toISOString() }
      : {}),
    ...(app.counts ? { bindings: app.counts.bindings, tokens: app.counts.tokens, accounts: app.counts.accounts } : {}),
  };
}

function appText(app: Counted, withSecret: boolean): string {
  return Object.entries(appJson(app, withSecret))
    .map(([key, value]) => `${key.padEnd(28)} ${String(value)}`)
    .join('\n');
}

async function withService<T>(run: (service: AppService) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const store = await openStore(config);
  try {
    return await run(new AppService(store, config.secretGraceSeconds));
  } catch (error) {
    if (error instanceof AppInputError) throw new CliError(error.message, EXIT.USAGE);
    if (error instanceof AppExistsError) throw new CliError(`${error.message}; choose another --access-id`, EXIT.USAGE);
    throw error;
  } finally {
    await store.close();
  }
}

function print(json: boolean, value: Record<string, unknown> | Record<string, unknown>[], text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

const wholeNumber = (flag: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new CliError(`${flag} must be a whole number, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return Number(value);
};

const notFound = (accessId: string) =>
  new CliError(`no app with AccessID ${accessId}; \`bindery app list\` shows the apps`, EXIT.NOT_FOUND);

export function registerAppCommands(program: Command): void {
  const app = program.command('app').description('manage apps (tenants): credentials and policies');

  app
    .command('create')
    .description('create an app and print its AccessID and SecretKey')
    .requiredOption('--name <name>', 'a name for people')
    .option('--access-id <id>', 'keep an existing TPNS AccessID (with --secret-key)')
    .option('--secret-key <key>', 'keep an existing TPNS SecretKey (with --access-id)')
    .option('--max-tokens-per-account <n>', 'cap (default 100)', wholeNumber('--max-tokens-per-account'))
    .option('--max-accounts-per-token <n>', 'cap (default 10)', wholeNumber('--max-accounts-per-token'))
    .option('--json', 'print one JSON object')
    .action(async (o: { name: string; accessId?: string; secretKey?: string; maxTokensPerAccount?: number; maxAccountsPerToken?: number; json?: boolean }) => {
      const created = await withService((s) =>
        s.create({
          name: o.name,
          accessId: o.accessId,
          secretKey: o.secretKey,
          policy: { maxTokensPerAccount: o.maxTokensPerAccount, maxAccountsPerToken: o.maxAccountsPerToken },
        }),
      );
      print(!!o.json, appJson(created, true), `${appText(created, true)}\n\nKeep the SecretKey safe: it is not shown again.`);
    });

  app
    .command('list')
    .description('list apps with their binding counts')
    .option('--json', 'print a JSON array')
    .action(async (o: { json?: boolean }) => {
      const apps = await withService((s) => s.list());
      const text = apps.length === 0 ? 'no apps yet: `bindery app create --name NAME` makes one' : apps.map((a) => appText(a, false)).join('\n\n');
      print(!!o.json, apps.map((a) => appJson(a, false)), text);
    });

  app
    .command('show <accessId>')
    .description('show one app with its binding counts')
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { json?: boolean }) => {
      const found = await withService((s) => s.show(accessId));
      if (!found) throw notFound(accessId);
      print(!!o.json, appJson(found, false), appText(found, false));
    });

  app
    .command('rotate-secret <accessId>')
    .description('issue a new SecretKey; the old one keeps working for the grace period')
    .option('--grace-seconds <n>', 'how long the old SecretKey keeps working (default BINDERY_SECRET_GRACE_SECONDS, 86400)', wholeNumber('--grace-seconds'))
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { graceSeconds?: number; json?: boolean }) => {
      const rotated = await withService((s) => s.rotateSecret(accessId, o.graceSeconds));
      if (!rotated) throw notFound(accessId);
      print(!!o.json, appJson(rotated, true), `${appText(rotated, true)}\n\nKeep the new SecretKey safe: it is not shown again.`);
    });

  app
    .command('set-policy <accessId>')
    .description('change the caps of an app')
    .option('--max-tokens-per-account <n>', 'tokens one account may have', wholeNumber('--max-tokens-per-account'))
    .option('--max-accounts-per-token <n>', 'accounts one token may have (1 = logging in moves the device)', wholeNumber('--max-accounts-per-token'))
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { maxTokensPerAccount?: number; maxAccountsPerToken?: number; json?: boolean }) => {
      if (o.maxTokensPerAccount === undefined && o.maxAccountsPerToken === undefined) {
        throw new CliError('give --max-tokens-per-account and/or --max-accounts-per-token', EXIT.USAGE);
      }
      const updated = await withService((s) =>
        s.setPolicy(accessId, { maxTokensPerAccount: o.maxTokensPerAccount, maxAccountsPerToken: o.maxAccountsPerToken }),
      );
      if (!updated) throw notFound(accessId);
      print(!!o.json, appJson(updated, false), appText(updated, false));
    });

  app
    .command('delete <accessId>')
    .description('delete an app and all of its bindings')
    .option('--yes', 'confirm: this cannot be undone')
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { yes?: boolean; json?: boolean }) => {
      if (!o.yes) throw new CliError(`this deletes app ${accessId} and all its bindings; add --yes to confirm`, EXIT.USAGE);
      const deleted = await withService((s) => s.delete(accessId));
      if (!deleted) throw notFound(accessId);
      print(!!o.json, { access_id: accessId, deleted: true }, `deleted app ${accessId} and all its bindings`);
    });
}
