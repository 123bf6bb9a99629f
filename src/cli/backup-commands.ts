/**
 * `bindery backup create|restore|check`: the embedded store's backups, made while it serves.
 * PostgreSQL's are pgBackRest's work (docs/deploy.md), so these refuse a PostgreSQL store.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { StoreError } from '../model/errors.ts';
import { type BackupSummary, backupSqlite, inspectBackup, restoreSqlite } from '../store/sqlite/sqlite-backup.ts';
import { CliError, EXIT } from './app-commands.ts';
import { table } from './table.ts';

/** The SQLite file of BINDERY_DATABASE_URL, or a CliError that says what to use for PostgreSQL. */
function sqliteFile(): string {
  const { databaseUrl } = loadConfig();
  if (!databaseUrl.startsWith('sqlite:'))
    throw new CliError(
      'BINDERY_DATABASE_URL names PostgreSQL: back it up with pgBackRest (point-in-time recovery; ' +
        'docs/deploy.md, "Backups and point-in-time recovery"). `bindery backup` is for the SQLite store.',
      EXIT.USAGE,
    );
  return resolve(databaseUrl.slice('sqlite:'.length));
}

function summaryText(s: BackupSummary): string {
  const lines = [
    `file            ${s.file}`,
    `taken at        ${s.takenAt}${s.seconds ? ` (${s.seconds.toFixed(2)} s)` : ''}`,
    `size            ${s.bytes} bytes`,
    `integrity       ${s.integrity}`,
    `schema version  ${s.schemaVersion}`,
    `position        history id ${s.lastHistoryId ?? '-'}, last bind ${s.lastBoundAt}`,
    `bindings        ${s.bindings} in ${s.apps.length} app(s)`,
  ];
  if (s.apps.length === 0) return lines.join('\n');
  const rows = s.apps.map((a) => [a.accessId, String(a.revision), String(a.bindings)]);
  return `${lines.join('\n')}\n\n${table(['ACCESS ID', 'REVISION', 'BINDINGS'], rows)}`;
}

const asCliError = (error: unknown): never => {
  if (error instanceof StoreError) throw new CliError(error.message, EXIT.FAILURE);
  throw error;
};

export function registerBackupCommands(program: Command): void {
  const backup = program
    .command('backup')
    .description('back up the SQLite store while it serves, check a backup, put one in place');

  backup
    .command('create <dest>')
    .description('copy the live store (BINDERY_DATABASE_URL) to DEST, a new file, and check the copy')
    .option('--json', 'print what the backup holds as one JSON object')
    .action((dest: string, o: { json?: boolean }) => {
      const source = sqliteFile();
      if (!o.json) process.stderr.write(`backing up ${source} to ${resolve(dest)} (one snapshot; writes go on)…\n`);
      let summary: BackupSummary;
      try {
        summary = backupSqlite(source, dest);
      } catch (error) {
        return asCliError(error);
      }
      process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${summaryText(summary)}\n`);
    });

  backup
    .command('check <file>')
    .description('check a backup (PRAGMA integrity_check) and print what it holds')
    .option('--json', 'print it as one JSON object')
    .action((file: string, o: { json?: boolean }) => {
      let summary: BackupSummary;
      try {
        summary = inspectBackup(resolve(file));
      } catch (error) {
        return asCliError(error);
      }
      process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${summaryText(summary)}\n`);
    });

  backup
    .command('restore <file>')
    .description(
      'put the backup FILE in place of the store (BINDERY_DATABASE_URL); refused while a server has it open; ' +
        'the replaced file is kept beside it',
    )
    .option('--json', 'print the outcome as one JSON object')
    .action((file: string, o: { json?: boolean }) => {
      const target = sqliteFile();
      let report: ReturnType<typeof restoreSqlite>;
      try {
        report = restoreSqlite(file, target);
      } catch (error) {
        return asCliError(error);
      }
      if (o.json) return void process.stdout.write(`${JSON.stringify(report)}\n`);
      process.stdout.write(`${summaryText(report.restored)}\n\n`);
      process.stdout.write(
        `restored ${resolve(file)} as ${target}\n` +
          (report.replacedKeptAs ? `the store it replaced is kept as ${report.replacedKeptAs}\n` : '') +
          'start bindery on it as usual (`npm start`)\n',
      );
    });
}
