#!/usr/bin/env node
// Runs the compiled CLI (dist/server, built by `npm install` / `npm run build`): no TypeScript
// compiler at run time, so a command answers at once.
import { existsSync } from 'node:fs';

// better-sqlite3 needs Node-API 10 (Node 22.14+): an older Node would crash in it, not explain.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 14)) {
  process.stderr.write(`bindery: needs Node 22.14 or newer (22 or 24 LTS); this is Node ${process.versions.node}\n`);
  process.exit(1);
}

const main = new URL('../dist/server/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'bindery: the compiled CLI is missing (dist/server); run `npm run build` in the bindery folder, then try again\n',
  );
  process.exit(1);
}
await import(main.href);
