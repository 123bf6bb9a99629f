/** `bindery secrets status` and `bindery secrets rotate-key`: the apps' secrets at rest (README, "Secrets at rest"). */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import type { BindingStore } from '../model/store.ts';
import { describeStore, openStore, StoreMissingError, secretBoxOf } from '../store/open-store.ts';
import { countSecrets, rewriteSecrets } from '../store/secrets-at-rest.ts';
import { CliError, EXIT } from './app-commands.ts';

async function withStore<T>(checkSecrets: boolean, run: (store: BindingStore) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const store = await openStore(config, { mustExist: true, checkSecrets }).catch((error: unknown) => {
    throw error instanceof StoreMissingError ? new CliError(error.message, EXIT.USAGE) : error;
  });
  process.stderr.write(`store: ${describeStore(config.databaseUrl)}\n`);
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

export function registerSecretsCommands(program: Command): void {
  const secrets = program
    .command('secrets')
    .description("the apps' secrets at rest: sealed under BINDERY_SECRETS_KEY, or clear text without one");

  secrets
    .command('status')
    .description('the ids of the keys given, and how many stored secrets each one seals (changes nothing)')
    .option('--json', 'one JSON object')
    .action(async (o: { json?: boolean }) => {
      const box = secretBoxOf(loadConfig());
      const count = await withStore(false, async (store) => countSecrets(await store.storedSecrets()));
      const status = {
        key: box.current?.id ?? null,
        previous_key: box.previous?.id ?? null,
        clear_text: count.clear,
        sealed: count.sealed,
      };
      if (o.json) return void process.stdout.write(`${JSON.stringify(status)}\n`);
      const role = (id: string) =>
        id === status.key
          ? 'BINDERY_SECRETS_KEY'
          : id === status.previous_key
            ? 'BINDERY_SECRETS_PREVIOUS_KEY'
            : 'a key not given: set BINDERY_SECRETS_KEY to it';
      const lines = [
        `BINDERY_SECRETS_KEY           ${status.key ?? '(not set: new secrets are stored in clear text)'}`,
        `BINDERY_SECRETS_PREVIOUS_KEY  ${status.previous_key ?? '(not set)'}`,
        `in clear text                 ${status.clear_text}`,
        ...Object.entries(status.sealed).map(([id, n]) => `sealed under ${id}         ${n} (${role(id)})`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  secrets
    .command('rotate-key')
    .description(
      'seal every stored secret under BINDERY_SECRETS_KEY; those sealed under the old key need it as ' +
        'BINDERY_SECRETS_PREVIOUS_KEY. Safe while bindery serves, and to run again',
    )
    .option('--to-clear-text', 'without BINDERY_SECRETS_KEY: store every secret in clear text again (the way back)')
    .option('--json', 'print the summary as one JSON object, without a progress bar')
    .action(async (o: { toClearText?: boolean; json?: boolean }) => {
      const box = secretBoxOf(loadConfig());
      if (!box.current && !o.toClearText) {
        throw new CliError(
          'BINDERY_SECRETS_KEY is not set: set it to the new key (`openssl rand -base64 32`) and ' +
            'BINDERY_SECRETS_PREVIOUS_KEY to the old one, or give --to-clear-text to store the secrets unsealed',
          EXIT.USAGE,
        );
      }
      if (box.current && o.toClearText) {
        throw new CliError(
          '--to-clear-text is for no BINDERY_SECRETS_KEY: unset it, or leave out the flag',
          EXIT.USAGE,
        );
      }
      const bar = new SingleBar({
        format: 'sealing {bar} {value}/{total} secrets',
        noTTYOutput: true,
        notTTYSchedule: 2000,
        stream: process.stderr,
      });
      const summary = await withStore(true, async (store) => {
        let started = false;
        const rewritten = await rewriteSecrets(store, box, ({ done, total }) => {
          if (o.json) return;
          if (!started) bar.start(total, done);
          else bar.update(done);
          started = true;
        });
        if (started) bar.stop();
        return { key: box.current?.id ?? null, rewritten, ...countSecrets(await store.storedSecrets()) };
      });
      if (o.json) return void process.stdout.write(`${JSON.stringify(summary)}\n`);
      const where = summary.key ? `sealed under ${summary.key}` : 'in clear text';
      process.stdout.write(
        `rewrote ${summary.rewritten} secrets; every stored secret is ${where} now` +
          (box.previous ? `: unset BINDERY_SECRETS_PREVIOUS_KEY (${box.previous.id}) on every instance` : '') +
          '\n',
      );
    });
}
