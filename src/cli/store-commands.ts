/** `bindery migrate` and `bindery copy`: work on stores directly, no server needed. */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { copyStore } from '../store/copy-store.ts';
import { describeStore, openStore, StoreMissingError } from '../store/open-store.ts';
import { CliError, EXIT } from './app-commands.ts';

export function registerStoreCommands(program: Command): void {
  program
    .command('migrate')
    .description('bring the schema of BINDERY_DATABASE_URL up to date, then exit (the server also does this at start)')
    .action(async () => {
      const config = loadConfig();
      const store = await openStore(config);
      await store.close();
      process.stdout.write(`bindery: the ${store.kind} schema of ${describeStore(config.databaseUrl)} is up to date\n`);
    });

  program
    .command('copy')
    .description('copy every app and binding from one store to another; safe to re-run')
    .requiredOption('--from <url>', 'source, e.g. sqlite:./data/bindery.db')
    .requiredOption('--to <url>', 'target, e.g. postgres://user:pass@host/db')
    .option('--json', 'print the summary as one JSON object, without a progress bar')
    .action(async (o: { from: string; to: string; json?: boolean }) => {
      const config = loadConfig();
      if (o.from === o.to) throw new CliError('--from and --to name the same store', EXIT.USAGE);
      // The source must be there; the target may be made.
      const source = await openStore({ ...config, databaseUrl: o.from }, { mustExist: true }).catch(
        (error: unknown) => {
          throw error instanceof StoreMissingError ? new CliError(`--from: ${error.message}`, EXIT.USAGE) : error;
        },
      );
      const target = await openStore({ ...config, databaseUrl: o.to }).catch(async (error: unknown) => {
        await source.close();
        throw error;
      });
      const bar = new SingleBar({
        format: 'copying {bar} {percentage}% | {value}/{total} bindings | {rate}/s | ETA {eta_formatted} | app {app}',
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 2000,
        stream: process.stderr,
      });
      const started = Date.now();
      let barStarted = false;
      try {
        const report = await copyStore(source, target, ({ app, copied, total }) => {
          if (o.json) return;
          const rate = Math.round(copied / Math.max(0.001, (Date.now() - started) / 1000));
          if (!barStarted) {
            bar.start(total, copied, { app, rate });
            barStarted = true;
          } else bar.update(copied, { app, rate });
        });
        if (barStarted) bar.stop();
        const seconds = (Date.now() - started) / 1000;
        const summary = {
          apps: report.apps,
          bindings: report.bindings,
          seconds: Number(seconds.toFixed(2)),
          bindings_per_second: Math.round(report.bindings / Math.max(seconds, 0.001)),
          verified: report.mismatches.length === 0,
          mismatches: report.mismatches,
        };
        if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else
          process.stdout.write(
            `copied ${report.apps} apps and ${report.bindings} bindings in ${summary.seconds} s ` +
              `(${summary.bindings_per_second}/s)\n`,
          );
        if (report.mismatches.length > 0) {
          const list = report.mismatches
            .map((m) => `${m.accessId}: source ${m.source.bindings}, target ${m.target.bindings}`)
            .join('; ');
          throw new CliError(`counts differ after the copy (the target has other bindings for these apps): ${list}`);
        }
        if (!o.json)
          process.stdout.write(
            'verified: every app has the same counts of bindings, tokens and accounts in both stores\n',
          );
      } finally {
        if (barStarted) bar.stop();
        await Promise.all([source.close(), target.close()]);
      }
    });
}
