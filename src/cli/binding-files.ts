/**
 * Binding files for the CLI: the NDJSON and CSV formats of import and export, read line by line
 * (CSV checked whole first and converted to NDJSON rows) and written to a file opened up front.
 */

import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { CsvError, parse as parseCsv } from 'csv-parse';
import { CliError, EXIT } from './app-commands.ts';

export const CSV_COLUMNS = [
  'token',
  'account',
  'account_type',
  'platform',
  'bound_at',
  'last_seen_at',
  'state',
  'quarantined_at',
  'quarantine_reason',
] as const;

export async function countLines(path: string): Promise<number> {
  let count = 0;
  for await (const chunk of createReadStream(path)) for (const byte of chunk as Buffer) if (byte === 10) count++;
  return count;
}

export const CSV_OPTIONS = {
  columns: true,
  skip_empty_lines: true,
  trim: true,
  relax_column_count: true,
  info: true,
} as const;
export type CsvRow = { record: Record<string, string>; info: { lines: number } };

/**
 * Reads a CSV file once before anything is sent: a file that cannot be read as CSV at all (an
 * unclosed quote, no token or account column) is refused whole, with its line, and nothing imported.
 */
export async function checkCsv(path: string): Promise<void> {
  const columns = (header: string[]) => {
    if (!header.includes('token') || !header.includes('account')) {
      throw new CliError(
        `${path} line 1: the header must name the columns token and account (and may name ` +
          `${CSV_COLUMNS.slice(2).join(', ')}); got ${header.join(',')}`,
        EXIT.USAGE,
      );
    }
    return header;
  };
  try {
    for await (const _row of createReadStream(path).pipe(parseCsv({ ...CSV_OPTIONS, columns }))) {
      // Parsing the whole file is the check.
    }
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const line = (error as CsvError & { lines?: number }).lines;
    throw new CliError(
      `${path} line ${line ?? '?'}: ${error.message}; the file cannot be read as CSV (header: ` +
        `${CSV_COLUMNS.join(',')}), so nothing was imported`,
      EXIT.USAGE,
    );
  }
}

/**
 * The file as NDJSON lines: NDJSON as it is (the server numbers bad lines), CSV converted row by
 * row; `csvLines` gets each row's line in the file, to report refusals by the file's own lines.
 */
export async function* readLines(path: string, format: 'ndjson' | 'csv', csvLines: number[]): AsyncGenerator<string> {
  if (format === 'ndjson') {
    yield* createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
    return;
  }
  const parser = createReadStream(path).pipe(parseCsv(CSV_OPTIONS));
  for await (const { record: row, info } of parser as AsyncIterable<CsvRow>) {
    const record: Record<string, unknown> = { token: row.token ?? '', account: row.account ?? '' };
    // A type that is not a number goes as given, so the server refuses it by line rather than reading 0.
    if (row.account_type)
      record.account_type = /^\d+$/.test(row.account_type) ? Number(row.account_type) : row.account_type;
    if (row.platform) record.platform = row.platform;
    for (const column of CSV_COLUMNS.slice(4)) if (row[column]) record[column] = row[column];
    csvLines.push(info.lines);
    yield JSON.stringify(record);
  }
}

/**
 * The output file, opened (or a CliError saying why it cannot be); a later write failure ends the command with its
 * reason.
 */
export async function openForWriting(path: string): Promise<WriteStream> {
  const out = createWriteStream(path);
  await new Promise<void>((opened, failed) => {
    out.once('open', () => opened());
    out.once('error', (error: NodeJS.ErrnoException) =>
      failed(
        new CliError(
          `cannot write ${path}: ${error.code === 'ENOENT' ? 'no such folder' : (error.code ?? error.message)}`,
          EXIT.USAGE,
        ),
      ),
    );
  });
  out.on('error', (error: NodeJS.ErrnoException) => {
    process.stderr.write(`bindery: writing ${path} failed (${error.code ?? error.message}); the file is incomplete\n`);
    process.exit(EXIT.FAILURE);
  });
  return out;
}

export function format(value: string | undefined, path: string | undefined): 'ndjson' | 'csv' {
  const chosen = value ?? (path?.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson');
  if (chosen !== 'ndjson' && chosen !== 'csv')
    throw new CliError(`--format must be ndjson or csv, got ${JSON.stringify(chosen)}`, EXIT.USAGE);
  return chosen;
}
