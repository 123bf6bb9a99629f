#!/usr/bin/env node
// Runs the compiled CLI (dist/server, built by `npm install` / `npm run build`): no TypeScript
// compiler at run time, so a command answers at once.
import { existsSync } from 'node:fs';

const main = new URL('../dist/server/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('bindery: the compiled CLI is missing (dist/server); run `npm run build` in the bindery folder, then try again\n');
  process.exit(1);
}
await import(main.href);
