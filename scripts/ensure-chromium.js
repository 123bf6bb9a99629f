// `npm test` runs the console's browser tests in Debian's Chromium. If it is missing, install it
// (as root, with apt) so that the test command works on a fresh machine by itself.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.BINDERY_CHROMIUM ?? '/usr/bin/chromium';
if (existsSync(CHROMIUM)) process.exit(0);
if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
  console.error(
    `The browser tests need Chromium at ${CHROMIUM}. Install it (Debian: sudo apt-get install chromium) or set ` +
      `BINDERY_CHROMIUM to its path.`,
  );
  process.exit(1);
}
console.error("Installing Debian's chromium for the browser tests (once)…");
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [
  ['update', '-qq'],
  ['install', '-y', '-qq', 'chromium'],
]) {
  const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (result.status !== 0) {
    console.error(
      `apt-get ${args.join(' ')} failed (exit ${result.status}); install chromium by hand and run npm test again.`,
    );
    process.exit(1);
  }
}
