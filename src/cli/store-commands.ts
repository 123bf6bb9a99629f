/** `bindery migrate` and `bindery copy`: work on stores directly, no server needed. */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { copyStore } from '../store/copy-store.ts';
import type { MigrationStatus } from '../store/migrations.ts';
import { describeStore, migrationStatusOf, openStore, StoreMissingError } from '../store/open-store.ts';
import { VERSION } from '../version.ts';
import { CliError, EXIT } from './app-commands.ts';

export function registerStoreCommands(program: Command): void {
  program
    .command('migrate')
    .description('bring the schema of BINDERY_DATABASE_URL up to date, then exit (the server also does this at start)')
    .option('--status', 'list the applied and pending migrations, changing nothing')
    .option('--json', 'with --status: one JSON object')
    .action(async (o: { status?: boolean; json?: boolean }) => {
      const config = loadConfig();
      if (o.status) {
        const status = await migrationStatusOf(config);
        process.stdout.write(
          o.json ? `${JSON.stringify(status)}\n` : describeStatus(describeStore(config.databaseUrl), status),
        );
        return;
      }
      // What the migration did (the copy an SQLite file gets first, the versions applied) goes to stderr.
      const say = (message: string) => process.stderr.write(`bindery: ${message}\n`);
      const store = await openStore(config, { log: { info: say, warn: say } });
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

/** `bindery migrate --status` for people: where the store is, then one line per migration. */
function describeStatus(where: string, status: MigrationStatus): string {
  const at = Math.max(0, ...status.applied.map((m) => m.version), ...status.newer.map((m) => m.version));
  const line = (state: string, m: { version: number; name: string; appliedAt?: number }) =>
    `  ${state.padEnd(8)} ${String(m.version).padStart(3)}  ${m.name.padEnd(44)} ${
      m.appliedAt === undefined ? '' : new Date(m.appliedAt).toISOString()
    }`.trimEnd();
  const verdict =
    status.newer.length > 0
      ? status.oldestReader <= status.known
        ? `newer than this release (${status.known}); its migrations keep this release working`
        : `newer than this release (${status.known}), which cannot use it: it needs schema ${status.oldestReader} or newer`
      : status.pending.length > 0
        ? `${status.pending.length} pending: \`bindery migrate\` (or starting the server) applies them`
        : 'up to date';
  return [
    `bindery ${VERSION}: ${where} is at schema ${at}; ${verdict}`,
    ...status.applied.map((m) => line('applied', m)),
    ...status.newer.map((m) => line('newer', m)),
    ...status.pending.map((m) => line('pending', m)),
    '',
  ].join('\n');
}
