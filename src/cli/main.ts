/** The `bindery` command line. */
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../config.ts';
import { BinderyError } from '../client/index.ts';
import { StoreError } from '../errors.ts';
import { serve } from '../server.ts';
import { CliError, EXIT, registerAppCommands } from './app-commands.ts';
import { registerClientCommands } from './client-commands.ts';
import { registerStoreCommands } from './store-commands.ts';

const program = new Command('bindery')
  .description('account <-> push token bindings, TPNS Account API v3 compatible')
  .showHelpAfterError()
  .exitOverride();

program
  .command('serve')
  .description('run the HTTP server (same as `npm start`); configured by BINDERY_* variables')
  .action(async () => {
    await serve(loadConfig());
  });

registerAppCommands(program);
registerStoreCommands(program);
registerClientCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else if (error instanceof BinderyError) {
    process.stderr.write(`bindery: ${error.message}\n`);
    process.exitCode = error.retCode === 1008003 ? EXIT.USAGE : EXIT.FAILURE;
  } else if (error instanceof StoreError) {
    process.stderr.write(`bindery: ${error.message}\n`);
    process.exitCode = EXIT.FAILURE;
  } else if (error instanceof CliError || error instanceof ConfigError) {
    process.stderr.write(`bindery: ${error.message}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : EXIT.USAGE;
  } else {
    process.stderr.write(`bindery: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = EXIT.FAILURE;
  }
}
