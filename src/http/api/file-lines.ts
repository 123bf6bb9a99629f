/**
 * The lines of a UTF-8 text file, a chunk's worth at a time: per line this costs a slice, not an
 * async step (readline's async iterator awaits once per line). A line ends at "\n" or "\r\n"; the
 * last line needs no ending.
 */
import { createReadStream } from 'node:fs';

export async function* fileLines(path: string): AsyncGenerator<string[]> {
  let rest = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 })) {
    const lines = (rest + (chunk as string)).split('\n');
    rest = lines.pop()!;
    yield lines.map(withoutCr);
  }
  if (rest !== '') yield [withoutCr(rest)];
}

const withoutCr = (line: string): string => (line.endsWith('\r') ? line.slice(0, -1) : line);
