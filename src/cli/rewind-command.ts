/** `bindery app rewind ACCESS_ID --to TIME [--dry-run]`: straight on the store, as the admin API's rewind. */
import type { Command } from 'commander';
import { notFound, print, withService } from './app-commands.ts';

export function registerRewindCommand(app: Command): void {
  app
    .command('rewind <accessId>')
    .description(
      "make the app's bindings what they were at --to (undo every change since, as one write); " +
        'refused when the history cannot answer',
    )
    .requiredOption('--to <time>', 'ISO 8601 with its zone (2026-12-07T09:30:00Z), or Unix milliseconds')
    .option('--dry-run', 'print what would be bound and unbound; change nothing')
    .option('--json', 'print one JSON object')
    .action(async (accessId: string, o: { to: string; dryRun?: boolean; json?: boolean }) => {
      const done = await withService((s) => s.rewind(accessId, o.to, !!o.dryRun));
      if (!done) throw notFound(accessId);
      const to = new Date(done.to).toISOString();
      const text = done.dryRun
        ? `dry run: rewinding app ${accessId} to ${to} would bind ${done.bind} and unbind ${done.unbind}; nothing changed`
        : `rewound app ${accessId} to ${to}: bound ${done.bind}, unbound ${done.unbind} (revision ${done.revision})`;
      print(
        !!o.json,
        {
          access_id: accessId,
          to,
          dry_run: done.dryRun,
          bind: done.bind,
          unbind: done.unbind,
          revision: done.revision,
        },
        text,
      );
    });
}
