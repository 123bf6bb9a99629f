// `npm install` runs this (npm's prepare): it builds dist/. `npx bindery` in the clone installs the
// project into npx's own cache on its first run and runs prepare there too; the build it would
// redo (~6 s before the command answers) is already here, so that run skips it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (process.env.npm_command === 'exec' && existsSync('dist/server/cli/main.js')) process.exit(0);
const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
process.exit(build.status ?? 1);
