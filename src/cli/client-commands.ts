/**
 * `bindery bind|unbind|query|import|export`: the SDK against a running server, for people (readable
 * output, progress bars) and for scripts (--json, exit codes).
 */

import { once } from 'node:events';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import { stringify as toCsv } from 'csv-stringify';
import {
  type AccountRef,
  type BatchoperateResponse,
  BinderyClient,
  BinderyError,
  type Platform,
  RetCode,
} from '../client/index.ts';
import { CliError, EXIT } from './app-commands.ts';
import { CSV_COLUMNS, checkCsv, countLines, format, openForWriting, readLines } from './binding-files.ts';
import { table } from './table.ts';

export interface Connection {
  url: string;
  accessId?: string;
  secretKey?: string;
  sign?: boolean;
  json?: boolean;
}

const DEFAULT_URL = 'http://127.0.0.1:8080';

export function client(o: Connection): BinderyClient {
  const url = o.url?.trim() || DEFAULT_URL;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) {
    throw new CliError(
      `--url (or BINDERY_URL) must be the server's http:// or https:// address, e.g. ${DEFAULT_URL}; got ` +
        `${JSON.stringify(url)}`,
      EXIT.USAGE,
    );
  }
  if (!o.accessId || !o.secretKey) {
    throw new CliError(
      'give the app credentials: --access-id and --secret-key, or BINDERY_ACCESS_ID and BINDERY_SECRET_KEY',
      EXIT.USAGE,
    );
  }
  return new BinderyClient({
    baseUrl: url,
    accessId: o.accessId,
    secretKey: o.secretKey,
    auth: o.sign ? 'signature' : 'basic',
  });
}

/** Options read from the environment name the variable in --help, never its value (a SecretKey must not be printed). */
export function withConnection(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', `bindery base URL (default ${DEFAULT_URL})`).env('BINDERY_URL'))
    .addOption(new Option('--access-id <id>', 'app AccessID').env('BINDERY_ACCESS_ID'))
    .addOption(new Option('--secret-key <key>', 'app SecretKey').env('BINDERY_SECRET_KEY'))
    .option('--sign', 'authenticate with the TPNS signature instead of Basic')
    .option('--json', 'print the JSON answer');
}

const accountType = (value: string) => {
  if (!/^\d+$/.test(value))
    throw new CliError(`--account-type must be a whole number, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return Number(value);
};

/**
 * Prints a batch answer. Element failures are listed with their TPNS codes, with whether anything
 * was applied: exit code 4 when the other elements were (1008026), 3 when nothing was because there
 * was nothing to unbind (every element 10110008), 1 when nothing was for another reason (1008027).
 */
function report(o: Connection, answer: BatchoperateResponse, what: string, elements: string[]): void {
  if (o.json) process.stdout.write(`${JSON.stringify(answer)}\n`);
  else if (answer.ret_code === RetCode.OK) process.stdout.write(`${what}\n`);
  else {
    const failed = answer.result.flatMap((code, i) =>
      code === '0' ? [] : [`  ${elements[i] ?? `element ${i}`}: ${code}`],
    );
    const applied = answer.ret_code === RetCode.SOME_FAILED ? 'the other elements were applied' : 'nothing was applied';
    process.stdout.write(`bindery: ${answer.err_msg} (TPNS ${answer.ret_code}: ${applied})\n${failed.join('\n')}\n`);
  }
  if (answer.ret_code === RetCode.OK) return;
  if (answer.ret_code === RetCode.SOME_FAILED) process.exitCode = EXIT.PARTIAL;
  else if (answer.result.every((code) => code === String(RetCode.NO_BINDING))) process.exitCode = EXIT.NOT_FOUND;
  else process.exitCode = EXIT.FAILURE;
}

export function registerClientCommands(program: Command): void {
  withConnection(
    program
      .command('bind <token> <accounts...>')
      .description('bind a device token to accounts (operator_type 1; --exclusive: 2)'),
  )
    .option('--account-type <n>', 'account_type of the accounts', accountType, 0)
    .option('--platform <platform>', 'android or ios')
    .option('--exclusive', 'the accounts become the only ones of the token')
    .action(
      async (
        token: string,
        accounts: string[],
        o: Connection & { accountType: number; platform?: Platform; exclusive?: boolean },
      ) => {
        const account_list: AccountRef[] = accounts.map((account) => ({ account, account_type: o.accountType }));
        const bindery = client(o);
        // What --exclusive removes: the token's other accounts as they were just before.
        const before = o.exclusive ? await bindery.tokenAccounts(token) : [];
        const answer = await bindery.batchoperate({
          operator_type: o.exclusive ? 2 : 1,
          ...(o.platform ? { platform: o.platform } : {}),
          token_accounts: [{ token, account_list }],
        });
        const kept = new Set(account_list.map((a) => `${a.account_type}\u0000${a.account}`));
        const removed = before
          .filter((a) => !kept.has(`${a.account_type}\u0000${a.account}`))
          .map((a) => (a.account_type === 0 ? a.account : `${a.account} (account_type ${a.account_type})`));
        const exclusive = o.exclusive
          ? removed.length === 0
            ? '; it had no other account'
            : `; removed ${removed.join(', ')}`
          : '';
        report(o, answer, `bound ${token} to ${accounts.join(', ')}${exclusive}`, [token]);
      },
    );

  withConnection(
    program
      .command('unbind [token] [accounts...]')
      .description('unbind accounts from a token (3), a token from all (4), or --account from all tokens (5)'),
  )
    .option('--account <account>', 'unbind this account from all its tokens')
    .option('--account-type <n>', 'account_type', accountType, 0)
    .action(
      async (
        token: string | undefined,
        accounts: string[],
        o: Connection & { account?: string; accountType: number },
      ) => {
        const bindery = client(o);
        if (o.account !== undefined) {
          if (token !== undefined) throw new CliError('give either a token or --account, not both', EXIT.USAGE);
          return report(
            o,
            await bindery.batchoperate({
              operator_type: 5,
              account_list: [{ account: o.account, account_type: o.accountType }],
            }),
            `unbound ${o.account} from all its tokens`,
            [o.account],
          );
        }
        if (token === undefined) throw new CliError('give a token (and accounts), or --account', EXIT.USAGE);
        if (accounts.length === 0)
          return report(
            o,
            await bindery.batchoperate({ operator_type: 4, token_list: [token] }),
            `unbound ${token} from all its accounts`,
            [token],
          );
        const account_list = accounts.map((account) => ({ account, account_type: o.accountType }));
        report(
          o,
          await bindery.batchoperate({ operator_type: 3, token_accounts: [{ token, account_list }] }),
          `unbound ${token} from ${accounts.join(', ')}`,
          [token],
        );
      },
    );

  withConnection(
    program
      .command('query')
      .description("an account's tokens (--account) or a token's accounts (--token), oldest bind first"),
  )
    .option('--account <account>', 'list the tokens of this account')
    .option('--account-type <n>', 'account_type', accountType, 0)
    .option('--token <token>', 'list the accounts of this token')
    .action(async (o: Connection & { account?: string; accountType: number; token?: string }) => {
      if ((o.account === undefined) === (o.token === undefined))
        throw new CliError('give either --account or --token', EXIT.USAGE);
      const bindery = client(o);
      const found: object[] = [];
      let text: string;
      if (o.account !== undefined) {
        const tokens = await bindery.accountTokens(o.account, o.accountType);
        found.push(...tokens);
        text = table(
          ['TOKEN', 'PLATFORM', 'BOUND AT'],
          tokens.map((t) => [t.token, t.platform ?? null, t.bound_at]),
        );
      } else {
        const accounts = await bindery.tokenAccounts(o.token!);
        found.push(...accounts);
        text = table(
          ['ACCOUNT', 'ACCOUNT TYPE', 'PLATFORM', 'BOUND AT'],
          accounts.map((a) => [a.account, a.account_type, a.platform ?? null, a.bound_at]),
        );
      }
      if (o.json) process.stdout.write(`${JSON.stringify(found)}\n`);
      else process.stdout.write(found.length === 0 ? 'no bindings\n' : `${text}\n`);
      if (found.length === 0) process.exitCode = EXIT.NOT_FOUND;
    });

  withConnection(program.command('export').description("write all of the app's bindings as NDJSON or CSV"))
    .option('--output <file>', 'write here instead of stdout')
    .option('--format <format>', 'ndjson or csv (default: from the file name, else ndjson)')
    .option('--from-token <token>', "start at this token's bindings (to go on from an export that broke off)")
    .action(async (o: Connection & { output?: string; format?: string; fromToken?: string }) => {
      const chosen = format(o.format, o.output);
      const out = o.output ? await openForWriting(o.output) : process.stdout;
      const csv = chosen === 'csv' ? toCsv({ header: true, columns: [...CSV_COLUMNS] }) : null;
      if (csv) csv.pipe(out);
      let count = 0;
      let last = '';
      const started = Date.now();
      try {
        for await (const record of client(o).exportBindings(
          o.fromToken === undefined ? {} : { fromToken: o.fromToken },
        )) {
          const ok = csv ? csv.write(record) : out.write(`${JSON.stringify(record)}\n`);
          count++;
          last = record.token;
          if (!ok) await once(csv ?? out, 'drain');
          if (o.output && count % 50_000 === 0) process.stderr.write(`exported ${count} bindings\n`);
        }
      } catch (error) {
        if (!(error instanceof BinderyError) || count === 0) throw error;
        // What arrived is kept, and the message says how to go on from it.
        if (csv) csv.end();
        if (o.output) {
          if (!csv) out.end();
          await finished(out);
        }
        throw new CliError(
          `${error.errMsg}\nthe export is incomplete: ${count} bindings were written` +
            `${o.output ? ` to ${o.output}` : ''}, the last of token ${last}; to go on, run it again with ` +
            `--from-token '${last}' (that token's bindings come again)${o.output ? ' and another --output' : ''}`,
          EXIT.PARTIAL,
        );
      }
      if (csv) csv.end();
      if (o.output) {
        if (!csv) out.end();
        await finished(out);
        const summary = { exported: count, seconds: (Date.now() - started) / 1000, output: o.output };
        process.stderr.write(
          o.json ? '' : `exported ${count} bindings to ${o.output} in ${summary.seconds.toFixed(1)} s\n`,
        );
        if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      }
    });

  withConnection(
    program
      .command('import <file>')
      .description(
        `add bindings from an NDJSON or CSV file (header: ${CSV_COLUMNS.join(',')}; token and account required)`,
      ),
  )
    .option('--format <format>', 'ndjson or csv (default: from the file name)')
    .option('--chunk-size <n>', 'lines per request', (v: string) => Number(v), 10_000)
    .action(async (file: string, o: Connection & { format?: string; chunkSize: number }) => {
      const chosen = format(o.format, file);
      const bindery = client(o);
      await access(file, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
        throw new CliError(
          `cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : (error.code ?? error.message)}`,
          EXIT.USAGE,
        );
      });
      if (chosen === 'csv') await checkCsv(file);
      const csvLines: number[] = [];
      const fileLine = (line: number) => (chosen === 'csv' ? (csvLines[line - 1] ?? line + 1) : line);
      const total = Math.max(0, (await countLines(file)) - (chosen === 'csv' ? 1 : 0)); // CSV: minus the header
      const bar = new SingleBar({
        format: 'importing {bar} {percentage}% | {value}/{total} lines | {rate}/s | ETA {eta_formatted}',
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 2000,
        stream: process.stderr,
      });
      const started = Date.now();
      if (!o.json) bar.start(total, 0, { rate: 0 });
      try {
        const summary = await bindery.importLines(readLines(file, chosen, csvLines), {
          chunkSize: o.chunkSize,
          onProgress: (sent) =>
            bar.update(sent, { rate: Math.round(sent / Math.max(0.001, (Date.now() - started) / 1000)) }),
        });
        bar.stop();
        summary.errors = summary.errors.map((e) => ({
          line: fileLine(e.line),
          err_msg: e.err_msg.replace(/^line \d+: /, `${file} line ${fileLine(e.line)}: `),
        }));
        const seconds = (Date.now() - started) / 1000;
        const rate = Math.round((summary.imported + summary.failed) / Math.max(seconds, 0.001));
        if (o.json) process.stdout.write(`${JSON.stringify({ ...summary, seconds, lines_per_second: rate })}\n`);
        else {
          process.stdout.write(
            `imported ${summary.imported} bindings, ${summary.failed} lines refused, ` +
              `in ${seconds.toFixed(1)} s (${rate} lines/s)\n`,
          );
          for (const e of summary.errors.slice(0, 20)) process.stdout.write(`  ${e.err_msg}\n`);
          if (summary.errors.length > 20) process.stdout.write(`  … and ${summary.failed - 20} more\n`);
        }
        if (summary.failed > 0) process.exitCode = EXIT.PARTIAL;
      } finally {
        bar.stop();
      }
    });
}
