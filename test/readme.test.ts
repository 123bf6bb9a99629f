/**
 * The README, as a newcomer reads it: its first screen is the quick start (what bindery is, the two
 * commands, which Node), every setting config.ts reads is in its Configuration table, and every
 * document it links to exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const ROOT = new URL('../', import.meta.url);
const README = readFileSync(new URL('README.md', ROOT), 'utf8');

describe('README', () => {
  it('opens with the quick start: what it is, the two commands, the Node it needs', () => {
    const firstScreen = README.split('\n').slice(0, 24).join('\n');
    assert.match(firstScreen, /npm install && npm start/);
    assert.match(firstScreen, /npm install && npm test/);
    assert.match(firstScreen, /Any Node 18 or newer/);
    assert.match(README.split('\n## ')[1]!, /^Try it in two minutes/, 'the first section is "Try it"');
  });

  it('documents every setting config.ts reads, in the Configuration table', () => {
    const table = README.slice(README.indexOf('## Configuration'), README.indexOf('## Running it for real'));
    const settings = new Set(readFileSync(new URL('src/config.ts', ROOT), 'utf8').match(/BINDERY_[A-Z_]+/g));
    assert.ok(settings.size > 20);
    for (const name of settings) assert.match(table, new RegExp(`\\| \`${name}\` \\|`), `${name} is in the table`);
  });

  it('links only to files that exist', () => {
    const links = [...README.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^https?:/.test(l));
    assert.ok(links.length >= 8);
    for (const link of links) assert.ok(existsSync(new URL(link, ROOT)), `${link} exists`);
  });
});
