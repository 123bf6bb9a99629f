/**
 * `bindery feedback FILE` and `bindery restore TOKEN`: the token lifecycle from a shell. A send
 * service's log of provider answers (NDJSON or CSV) goes to /api/v1/feedback 1,000 at a time,
 * with a progress bar; refused items are reported by their line in the file.
 */
import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse';
import type { FeedbackItem, FeedbackResponse } from '../client/index.ts';
import { CliError, EXIT } from './app-commands.ts';
import { CSV_OPTIONS, type CsvRow, countLines, format } from './binding-files.ts';
import { type Connection, client, withConnection } from './client-commands.ts';

const CHUNK = 1000;

/** The file's items with their line numbers; a line that is not an item is refused here, by its line. */
async function* readItems(
  path: string,
  chosen: 'ndjson' | 'csv',
): AsyncGenerator<{ line: number; item: unknown } | { line: number; error: string }> {
  if (chosen === 'ndjson') {
    let line = 0;
    for await (const text of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) {
      line++;
      if (text.trim() === '') continue;
      try {
        yield { line, item: JSON.parse(text) as unknown };
      } catch {
        yield { line, error: 'not valid JSON' };
      }
    }
    return;
  }
  for await (const { record, info } of createReadStream(path).pipe(parseCsv(CSV_OPTIONS)) as AsyncIterable<CsvRow>) {
    const item: Record<string, unknown> = { token: record.token, provider: record.provider };
    if (record.reason) item.reason = record.reason;
    if (record.status) item.status = /^\d+$/.test(record.status) ? Number(record.status) : record.status;
    if (record.at) item.at = /^\d+$/.test(record.at) ? Number(record.at) : record.at;
    yield { line: info.lines, item };
  }
}

type Counts = Record<FeedbackResponse['outcomes'][number]['action'], number>;

export function registerLifecycleCommands(program: Command): void {
  withConnection(
    program
      .command('feedback <file>')
      .description(
        "report push providers' answers from an NDJSON or CSV file (header: token,provider,reason,status,at): " +
          'dead tokens are quarantined',
      ),
  )
    .option('--format <format>', 'ndjson or csv (default: from the file name)')
    .action(async (file: string, o: Connection & { format?: string }) => {
      const chosen = format(o.format, file);
      const bindery = client(o);
      await access(file, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
        throw new CliError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.code}`, EXIT.USAGE);
      });
      const total = Math.max(0, (await countLines(file)) - (chosen === 'csv' ? 1 : 0));
      const bar = new SingleBar({
        format: 'reporting {bar} {percentage}% | {value}/{total} answers | {rate}/s',
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 2000,
        stream: process.stderr,
      });
      const counts: Counts = {
        quarantined: 0,
        already_quarantined: 0,
        stale: 0,
        counted: 0,
        no_binding: 0,
        refused: 0,
      };
      const refusals: string[] = [];
      const started = Date.now();
      let sent = 0;
      let chunk: { line: number; item: unknown }[] = [];
      const refuse = (line: number, message: string) => {
        if (refusals.length < 20) refusals.push(`${file} line ${line}: ${message}`);
      };
      const flush = async () => {
        if (chunk.length === 0) return;
        const answer = await bindery.reportFeedback(chunk.map((c) => c.item as FeedbackItem));
        answer.outcomes.forEach((outcome, i) => {
          counts[outcome.action]++;
          // Refusals are the file's mistakes, shown by line; tokens without bindings are only counted.
          if (outcome.action === 'refused')
            refuse(chunk[i]!.line, outcome.err_msg?.replace(/^items\[\d+\](?:: |\.)/, '') ?? '');
        });
        sent += chunk.length;
        chunk = [];
        bar.update(sent, { rate: Math.round(sent / Math.max(0.001, (Date.now() - started) / 1000)) });
      };
      if (!o.json) bar.start(total, 0, { rate: 0 });
      try {
        for await (const entry of readItems(file, chosen)) {
          if ('error' in entry) {
            counts.refused++;
            sent++;
            refuse(entry.line, entry.error);
            continue;
          }
          chunk.push(entry);
          if (chunk.length >= CHUNK) await flush();
        }
        await flush();
      } finally {
        bar.stop();
      }
      const seconds = (Date.now() - started) / 1000;
      if (o.json) process.stdout.write(`${JSON.stringify({ ...counts, seconds })}\n`);
      else {
        process.stdout.write(
          `${sent} answers in ${seconds.toFixed(1)} s: ${counts.quarantined} tokens quarantined, ` +
            `${counts.already_quarantined} already quarantined, ${counts.stale} bound again since (kept), ` +
            `${counts.counted} transient, ${counts.no_binding} unknown tokens, ${counts.refused} refused\n`,
        );
        for (const refusal of refusals) process.stdout.write(`  ${refusal}\n`);
        const unshown = counts.refused - refusals.length;
        if (unshown > 0) process.stdout.write(`  … and ${unshown} more\n`);
      }
      if (counts.refused + counts.no_binding > 0) process.exitCode = EXIT.PARTIAL;
    });

  withConnection(program.command('restore <token>').description("lift a token's quarantine")).action(
    async (token: string, o: Connection) => {
      const answer = await client(o).restore(token);
      process.stdout.write(
        o.json
          ? `${JSON.stringify(answer)}\n`
          : answer.action === 'restored'
            ? `restored ${token}: it is answered in queries again\n`
            : `${token} was not quarantined; its last_seen_at is now\n`,
      );
    },
  );
}
