/** `bindery app …`: manage apps straight on the store named by BINDERY_DATABASE_URL. */
import { type Command, Option } from 'commander';
import { loadConfig } from '../config.ts';
import { type AppChanges, AppInputError, AppService, AppStateError } from '../domain/app-service.ts';
import { appView } from '../domain/app-view.ts';
import { AppExistsError } from '../errors.ts';
import type { AppCounts } from '../model/store.ts';
import { type App, type AppPolicy, BINDING_RULES, type BindingRules } from '../model/types.ts';
import { describeStore, openStore, StoreMissingError } from '../store/open-store.ts';
import { table } from './table.ts';

/** Exit codes scripts can rely on: 4 means some elements or lines were refused and the rest applied. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, NOT_FOUND: 3, PARTIAL: 4 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
  ) {
    super(message);
  }
}

type Counted = App & { counts?: AppCounts };

function appText(app: Counted, show: { secret?: boolean; webhookSecret?: boolean }): string {
  return Object.entries(appView(app, show))
    .map(([key, value]) => `${key.padEnd(28)} ${value === null ? '-' : String(value)}`)
    .join('\n');
}

/** Runs `run` on the store of BINDERY_DATABASE_URL, said on stderr; only `create` may make a new store. */
export async function withService<T>(
  run: (service: AppService) => Promise<T>,
  options: { create?: boolean } = {},
): Promise<T> {
  const config = loadConfig();
  const store = await openStore(config, { mustExist: !options.create }).catch((error: unknown) => {
    if (error instanceof StoreMissingError) throw new CliError(error.message, EXIT.USAGE);
    throw error;
  });
  process.stderr.write(`store: ${describeStore(config.databaseUrl)}\n`);
  try {
    return await run(new AppService(store, config.secretGraceSeconds, config.webhookAllowPrivate));
  } catch (error) {
    if (error instanceof AppInputError) throw new CliError(error.message, EXIT.USAGE);
    if (error instanceof AppStateError)
      throw new CliError(
        error.message.replace('end_previous_grace: true (CLI: --end-grace)', '--end-grace'),
        EXIT.FAILURE,
      );
    if (error instanceof AppExistsError) throw new CliError(`${error.message}; choose another --access-id`, EXIT.USAGE);
    throw error;
  } finally {
    await store.close();
  }
}

/** At most `max` characters, the cut marked: a long name must not push a table past the terminal. */
function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

export function print(json: boolean, value: object, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

const wholeNumber = (flag: string) => (value: string) => {
  if (!/^\d+$/.test(value))
    throw new CliError(`${flag} must be a whole number, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return Number(value);
};

const positiveNumber = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new CliError(`${flag} must be a positive number, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return n;
};

const bindingRulesOption = () =>
  new Option(
    '--binding-rules <rules>',
    'append: op 1 appends (default); tpns: as TPNS since 2020-10-26, ' +
      'op 1 acts as op 2 and a token keeps one account per account_type',
  ).choices(BINDING_RULES);

/** The token lifecycle's policy options, for create and set-policy. */
function lifecycleOptions(command: Command): Command {
  return command
    .option(
      '--quarantine-days <n>',
      'days a quarantined token keeps its bindings before they are deleted (default 30)',
      wholeNumber('--quarantine-days'),
    )
    .option(
      '--token-ttl-days <n>',
      'quarantine tokens not seen for this many days (default: never)',
      wholeNumber('--token-ttl-days'),
    )
    .option('--no-token-ttl', 'never quarantine tokens for inactivity')
    .option(
      '--expiry-warning-days <n>',
      'send token.expiring this many days before (default 7)',
      wholeNumber('--expiry-warning-days'),
    );
}

interface LifecycleFlags {
  quarantineDays?: number;
  /** false: --no-token-ttl. */
  tokenTtl?: boolean;
  tokenTtlDays?: number;
  expiryWarningDays?: number;
}

const lifecyclePolicy = (o: LifecycleFlags): Partial<AppPolicy> => ({
  quarantineDays: o.quarantineDays,
  tokenTtlDays: o.tokenTtl === false ? null : o.tokenTtlDays,
  expiryWarningDays: o.expiryWarningDays,
});

export const notFound = (accessId: string) =>
  new CliError(`no app with AccessID ${accessId}; \`bindery app list\` shows the apps`, EXIT.NOT_FOUND);

/** Registers `bindery app …`; answers the group, which other files add commands to (rewind-command.ts). */
export function registerAppCommands(program: Command): Command {
  const app = program.command('app').description('manage apps (tenants): credentials and policies');

  const create = app
    .command('create')
    .description('create an app and print its AccessID and SecretKey')
    .requiredOption('--name <name>', 'a name for people')
    .option('--access-id <id>', 'keep an existing TPNS AccessID (with --secret-key)')
    .option('--secret-key <key>', 'keep an existing TPNS SecretKey (with --access-id)')
    .option('--max-tokens-per-account <n>', 'cap (default 100)', wholeNumber('--max-tokens-per-account'))
    .option('--max-accounts-per-token <n>', 'cap (default 10)', wholeNumber('--max-accounts-per-token'))
    .addOption(bindingRulesOption());
  lifecycleOptions(create)
    .option('--json', 'print one JSON object')
    .action(
      async (
        o: LifecycleFlags & {
          name: string;
          accessId?: string;
          secretKey?: string;
          maxTokensPerAccount?: number;
          maxAccountsPerToken?: number;
          bindingRules?: BindingRules;
          json?: boolean;
        },
      ) => {
        const created = await withService(
          (s) =>
            s.create({
              name: o.name,
              accessId: o.accessId,
              secretKey: o.secretKey,
              policy: {
                maxTokensPerAccount: o.maxTokensPerAccount,
                maxAccountsPerToken: o.maxAccountsPerToken,
                bindingRules: o.bindingRules,
                ...lifecyclePolicy(o),
              },
            }),
          { create: true },
        );
        print(
          !!o.json,
          appView(created, { secret: true }),
          `${appText(created, { secret: true })}\n\nKeep the SecretKey safe: it is not shown again.`,
        );
      },
    );

  app
    .command('list')
    .description('list apps with their binding counts (fits 100 columns; --wide adds policies and webhook)')
    .option('--wide', 'every column: caps, token TTL, rate limit, webhook URL')
    .option('--json', 'print a JSON array')
    .action(async (o: { json?: boolean; wide?: boolean }) => {
      const apps = await withService((s) => s.list());
      const counts = (a: (typeof apps)[number]) => [a.counts.bindings, a.counts.tokens, a.counts.accounts];
      const text =
        apps.length === 0
          ? 'no apps yet: `bindery app create --name NAME` makes one'
          : o.wide
            ? table(
                [
                  'ACCESS ID',
                  'NAME',
                  'RULES',
                  'MAX TOKENS/ACCOUNT',
                  'MAX ACCOUNTS/TOKEN',
                  'BINDINGS',
                  'TOKENS',
                  'ACCOUNTS',
                  'QUARANTINED',
                  'TTL DAYS',
                  'RATE LIMIT/S',
                  'WEBHOOK',
                ],
                apps.map((a) => [
                  a.accessId,
                  a.name,
                  a.policy.bindingRules,
                  a.policy.maxTokensPerAccount,
                  a.policy.maxAccountsPerToken,
                  ...counts(a),
                  a.counts.quarantined,
                  a.policy.tokenTtlDays,
                  a.rateLimit?.perSecond ?? null,
                  a.webhook?.url ?? null,
                ]),
              )
            : table(
                ['ACCESS ID', 'NAME', 'RULES', 'BINDINGS', 'TOKENS', 'ACCOUNTS', 'WEBHOOK'],
                apps.map((a) => [
                  a.accessId,
                  clip(a.name, 24),
                  a.policy.bindingRules,
                  ...counts(a),
                  a.webhook ? 'on' : null,
                ]),
              );
      print(
        !!o.json,
        apps.map((a) => appView(a)),
        text,
      );
    });

  app
    .command('show <accessId>')
    .description('show one app with its binding counts')
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { json?: boolean }) => {
      const found = await withService((s) => s.show(accessId));
      if (!found) throw notFound(accessId);
      print(!!o.json, appView(found), appText(found, {}));
    });

  app
    .command('rotate-secret <accessId>')
    .description('issue a new SecretKey; the old one keeps working for the grace period')
    .option(
      '--grace-seconds <n>',
      'how long the old SecretKey keeps working (default BINDERY_SECRET_GRACE_SECONDS, 86400)',
      wholeNumber('--grace-seconds'),
    )
    .option(
      '--end-grace',
      'a SecretKey rotated out earlier and still in its grace period stops working now (refused without it)',
    )
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { graceSeconds?: number; endGrace?: boolean; json?: boolean }) => {
      const rotated = await withService((s) => s.rotateSecret(accessId, o.graceSeconds, o.endGrace));
      if (!rotated) throw notFound(accessId);
      print(
        !!o.json,
        appView(rotated, { secret: true }),
        `${appText(rotated, { secret: true })}\n\nKeep the new SecretKey safe: it is not shown again.`,
      );
    });

  const setPolicy = app
    .command('set-policy <accessId>')
    .description('change the caps, binding rules, token lifecycle and rate limit of an app')
    .option('--max-tokens-per-account <n>', 'tokens one account may have', wholeNumber('--max-tokens-per-account'))
    .option(
      '--max-accounts-per-token <n>',
      'accounts one token may have (1 = logging in moves the device)',
      wholeNumber('--max-accounts-per-token'),
    )
    .addOption(bindingRulesOption());
  lifecycleOptions(setPolicy)
    .option(
      '--rate-limit <perSecond>',
      'requests per second this app may send, per instance',
      positiveNumber('--rate-limit'),
    )
    .option(
      '--rate-limit-burst <n>',
      'requests it may send at once (default: 2 x the rate, at least 1)',
      wholeNumber('--rate-limit-burst'),
    )
    .option('--no-rate-limit', 'turn the rate limit off')
    .option('--json', 'print one JSON object')
    .action(
      async (
        accessId: string,
        o: LifecycleFlags & {
          maxTokensPerAccount?: number;
          maxAccountsPerToken?: number;
          bindingRules?: BindingRules;
          rateLimit?: number | false;
          rateLimitBurst?: number;
          json?: boolean;
        },
      ) => {
        const changes: AppChanges = {};
        const policy: Partial<AppPolicy> = {
          maxTokensPerAccount: o.maxTokensPerAccount,
          maxAccountsPerToken: o.maxAccountsPerToken,
          bindingRules: o.bindingRules,
          ...lifecyclePolicy(o),
        };
        if (Object.values(policy).some((v) => v !== undefined)) changes.policy = policy;
        if (o.rateLimit === false) changes.rateLimit = null;
        else if (o.rateLimit !== undefined)
          changes.rateLimit = {
            perSecond: o.rateLimit,
            burst: o.rateLimitBurst ?? Math.max(1, Math.ceil(o.rateLimit * 2)),
          };
        if (Object.keys(changes).length === 0) {
          throw new CliError(
            'give --max-tokens-per-account, --max-accounts-per-token, --binding-rules, --quarantine-days, ' +
              '--token-ttl-days, --no-token-ttl, --expiry-warning-days, --rate-limit or --no-rate-limit',
            EXIT.USAGE,
          );
        }
        const updated = await withService((s) => s.update(accessId, changes));
        if (!updated) throw notFound(accessId);
        print(!!o.json, appView(updated), appText(updated, {}));
      },
    );

  app
    .command('set-webhook <accessId>')
    .description('send binding.created / binding.deleted events to a URL (prints the signing secret once)')
    .option('--url <url>', 'http:// or https:// URL that receives the events')
    .option('--off', 'stop sending events (queued ones are dropped)')
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { url?: string; off?: boolean; json?: boolean }) => {
      if ((o.url === undefined) === !o.off) throw new CliError('give either --url URL or --off', EXIT.USAGE);
      const updated = await withService((s) => s.update(accessId, { webhookUrl: o.off ? null : (o.url ?? null) }));
      if (!updated) throw notFound(accessId);
      const show = { webhookSecret: !o.off };
      print(
        !!o.json,
        appView(updated, show),
        o.off
          ? appText(updated, show)
          : `${appText(updated, show)}\n\nVerify deliveries with the webhook_secret: it is not shown again.`,
      );
    });

  app
    .command('delete <accessId>')
    .description('delete an app and all of its bindings')
    .option('--yes', 'confirm: this cannot be undone')
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { yes?: boolean; json?: boolean }) => {
      if (!o.yes)
        throw new CliError(`this deletes app ${accessId} and all its bindings; add --yes to confirm`, EXIT.USAGE);
      const deleted = await withService((s) => s.delete(accessId));
      if (!deleted) throw notFound(accessId);
      print(!!o.json, { access_id: accessId, deleted: true }, `deleted app ${accessId} and all its bindings`);
    });
  return app;
}
