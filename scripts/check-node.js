// Stops `npm start` / `npm test` early, with what to do, on a Node older than package.json's
// engines (better-sqlite3 13 needs Node-API 10, from Node 22.14 on: older ones crash, not explain).
import { readFileSync } from 'node:fs';

const wanted = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node.replace(
  /^>=/,
  '',
);
const [have, need] = [process.versions.node, wanted].map((v) => v.split('.').map(Number));
const differs = need.findIndex((part, i) => have[i] !== part);
if (differs >= 0 && have[differs] < need[differs]) {
  process.stderr.write(
    `bindery needs Node ${wanted} or newer (22 or 24 LTS); this is Node ${process.versions.node}.\n` +
      'Install Node 22 or 24, or run with one fetched from the npm registry: bash .ci/with-node 24.21.0 npm test\n',
  );
  process.exit(1);
}
