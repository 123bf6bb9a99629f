// `npm run soak`: the reliability tests at full size (BINDERY_SOAK=1): 25 kills per backend,
// 400 model runs, 100,000 fuzz cases. Takes about ten minutes on 2 cores.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const files = readdirSync('test/reliability')
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `test/reliability/${f}`);
const result = spawnSync(process.execPath, ['scripts/run-tests.js', ...files], {
  stdio: 'inherit',
  env: { ...process.env, BINDERY_SOAK: '1' },
});
process.exit(result.status ?? 1);
