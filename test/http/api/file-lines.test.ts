import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileLines } from '../../../src/http/api/file-lines.ts';

const dir = mkdtempSync(join(tmpdir(), 'file-lines-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function linesOf(text: string): Promise<string[]> {
  const path = join(dir, `f${Math.random()}`);
  writeFileSync(path, text);
  const all: string[] = [];
  for await (const batch of fileLines(path)) all.push(...batch);
  return all;
}

describe('fileLines', () => {
  it('ends lines at \\n and \\r\\n, keeps empty lines, and needs no final newline', async () => {
    assert.deepEqual(await linesOf('a\r\nb\n\nc'), ['a', 'b', '', 'c']);
    assert.deepEqual(await linesOf('a\n'), ['a']);
    assert.deepEqual(await linesOf(''), []);
  });

  it('keeps lines and multi-byte characters whole across read chunks', async () => {
    // Several 256 KiB chunks; 4-byte and 3-byte characters land on chunk boundaries somewhere.
    const lines = Array.from({ length: 40_000 }, (_, i) => `{"token":"t${i}","account":"用户🙂${i}"}`);
    const text = lines.map((l, i) => (i % 3 === 0 ? `${l}\r\n` : `${l}\n`)).join('');
    assert.ok(Buffer.byteLength(text) > 1024 * 1024);
    assert.deepEqual(await linesOf(text), lines);
  });
});
