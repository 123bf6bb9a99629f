#!/usr/bin/env node
// Runs the compiled CLI (dist/server, built by `npm install` / `npm run build`): no TypeScript
// compiler at run time, so a command answers at once. Started by a Node too old for bindery
// (`node bin/bindery.js` with the machine's Node 18 or 20), it runs itself again on the Node the
// install brought, passing signals on, so `npx bindery` and a systemd unit work the same.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundledNode, tooOld, tooOldMessage } from './runtime.js';

if (tooOld()) {
  const node = bundledNode();
  if (node === undefined) {
    process.stderr.write(`bindery: ${tooOldMessage()}`);
    process.exit(1);
  }
  const child = spawn(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
} else {
  const main = new URL('../dist/server/cli/main.js', import.meta.url);
  if (!existsSync(main)) {
    process.stderr.write(
      'bindery: the compiled CLI is missing (dist/server); run `npm run build` in the bindery folder, then try again\n',
    );
    process.exit(1);
  }
  await import(main.href);
}
