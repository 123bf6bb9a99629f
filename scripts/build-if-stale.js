// `npm start` runs this first: it compiles the server (tsc, ~15 s) only when a source is newer than
// the build, so a restart under a supervisor starts at once.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const BUILT = 'dist/server/server.js';

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

let built = 0;
try {
  built = statSync(BUILT).mtimeMs;
} catch {
  built = 0;
}
const sources = Math.max(
  newest('src'),
  newest('package.json'),
  newest('tsconfig.json'),
  newest('tsconfig.server.json'),
);
if (sources > built) {
  process.stderr.write('bindery: compiling the server (sources changed since the last build)…\n');
  const result = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.server.json'], {
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}
