/** The `bindery` command line. No path prints a stack trace unless --debug is given. */
import { Command, CommanderError } from 'commander';
import { BinderyError, RetCode } from '../client/index.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { StoreError } from '../errors.ts';
import { SCHEMA_VERSIONS } from '../store/schema-versions.ts';
import { VERSION } from '../version.ts';
import { CliError, EXIT, registerAppCommands } from './app-commands.ts';
import { registerBackupCommands } from './backup-commands.ts';
import { registerClientCommands } from './client-commands.ts';
import { registerLifecycleCommands } from './lifecycle-commands.ts';
import { registerRewindCommand } from './rewind-command.ts';
import { registerSecretsCommands } from './secrets-commands.ts';
import { registerStoreCommands } from './store-commands.ts';

const program = new Command('bindery')
  .description('account <-> push token bindings, TPNS Account API v3 compatible')
  .version(
    `bindery ${VERSION} (schema versions: SQLite ${SCHEMA_VERSIONS.sqlite}, PostgreSQL ${SCHEMA_VERSIONS.postgres})`,
    '-V, --version',
    'print the version and the schema version each store is migrated to',
  )
  .option('--debug', 'print the stack trace of an unexpected failure')
  .showHelpAfterError()
  .exitOverride();

program
  .command('serve')
  .description('run the HTTP server (what `npm start` runs); configured by BINDERY_* variables')
  .action(async () => {
    // Loaded only here: every other command starts without the server's modules.
    const { listenFailure, serve } = await import('../server.ts');
    await serve(loadConfig()).catch((error: unknown) => {
      const listen = listenFailure(error);
      throw listen ? new CliError(`cannot start: ${listen}`) : error;
    });
  });

registerRewindCommand(registerAppCommands(program));
registerStoreCommands(program);
registerBackupCommands(program);
registerClientCommands(program);
registerLifecycleCommands(program);
registerSecretsCommands(program);

/** What a person can do about an answer (or no answer) from the server. */
function explain(error: BinderyError): { message: string; exitCode: number } {
  if (
    error.retCode === -1 &&
    error.httpStatus === 0 &&
    /wrong version number|packet length too long/i.test(error.errMsg)
  ) {
    return {
      message:
        'the server does not speak TLS at that address (bindery serves plain HTTP unless a proxy in front adds ' +
        'TLS): use --url http://… (or BINDERY_URL), or the address of your TLS proxy',
      exitCode: EXIT.USAGE,
    };
  }
  if (error.retCode === -1 && error.httpStatus === 0) {
    return {
      message:
        `no answer from the server (${error.errMsg}): is it running (\`npm start\` or \`bindery serve\`), and ` +
        `are --url / BINDERY_URL right?`,
      exitCode: EXIT.FAILURE,
    };
  }
  const code = error.retCode === -1 ? `HTTP ${error.httpStatus}` : `TPNS ${error.retCode}, HTTP ${error.httpStatus}`;
  if (error.retCode === RetCode.AUTH_FAILED) {
    return {
      message:
        `the server refused the credentials (${code}): ${error.errMsg}; check --access-id and --secret-key (or ` +
        `BINDERY_ACCESS_ID and BINDERY_SECRET_KEY)`,
      exitCode: EXIT.USAGE,
    };
  }
  if (error.retCode === RetCode.RATE_LIMITED)
    return { message: `the server asks to slow down (${code}): ${error.errMsg}`, exitCode: EXIT.FAILURE };
  if (error.retCode === RetCode.INTERNAL && /outcome is unknown/.test(error.errMsg))
    return { message: `the server lost its store while committing (${code}): ${error.errMsg}`, exitCode: EXIT.FAILURE };
  if (error.retCode === RetCode.INTERNAL)
    return {
      message: `the server could not do it now (${code}): ${error.errMsg}; nothing was changed, try again shortly`,
      exitCode: EXIT.FAILURE,
    };
  return {
    message: `the server refused the request (${code}): ${error.errMsg}`,
    exitCode: error.httpStatus >= 400 && error.httpStatus < 500 ? EXIT.USAGE : EXIT.FAILURE,
  };
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  let message: string;
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0; commander has printed what is wrong.
    process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    let exitCode: number = EXIT.FAILURE;
    if (error instanceof BinderyError) ({ message, exitCode } = explain(error));
    else if (error instanceof CliError) ({ message, exitCode } = error);
    else if (error instanceof ConfigError) [message, exitCode] = [error.message, EXIT.USAGE];
    else if (error instanceof StoreError) message = `the store failed: ${error.message}`;
    else
      message = `unexpected failure: ${(error as Error).message ?? String(error)}; run again with --debug for details`;
    process.stderr.write(`bindery: ${message}\n`);
    if (program.opts<{ debug?: boolean }>().debug) process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = exitCode;
  }
}
