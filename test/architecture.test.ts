/**
 * The house rules of ARCHITECTURE.md, enforced: the import rules (dependency-cruiser, the same
 * config `npm run lint` uses) hold for src/ and catch each kind of break in a tree made to break
 * them; every file of src/store/, src/domain/ and src/model/ is named on the map; no file in src/
 * is over 400 lines.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

function cruise(cwd: string): { status: number; output: string } {
  const run = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', CONFIG, '--output-type', 'err'], {
    cwd,
    encoding: 'utf8',
  });
  return { status: run.status ?? -1, output: run.stdout + run.stderr };
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('the house rules', () => {
  it('src/ keeps the import rules', () => {
    const run = cruise(ROOT);
    assert.equal(run.status, 0, run.output);
  });

  it('the import rules catch a store importing the rules, the rules importing the edge or a store, and a circle', (t) => {
    const dir = tempDir(t);
    const tree: Record<string, string> = {
      'src/model/types.ts': 'export const ok = 1;\n',
      'src/domain/rules.ts': "import { route } from '../http/route.ts';\nexport const rule = route;\n",
      'src/domain/reads.ts': "import { store } from '../store/sqlite/store.ts';\nexport const reads = store;\n",
      'src/http/route.ts': 'export const route = 1;\n',
      'src/store/sqlite/store.ts': "import { rule } from '../../domain/rules.ts';\nexport const store = rule;\n",
      'src/store/sqlite/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
      'src/store/sqlite/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
    };
    for (const [path, text] of Object.entries(tree)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    writeFileSync(join(dir, 'tsconfig.json'), readFileSync(join(ROOT, 'tsconfig.json')));
    const run = cruise(dir);
    assert.notEqual(run.status, 0);
    for (const rule of ['domain-not-edge', 'domain-not-store', 'store-not-domain', 'no-circular'])
      assert.match(run.output, new RegExp(`error ${rule}:`), `${rule} is caught:\n${run.output}`);
  });

  it('ARCHITECTURE.md names every file of src/store/, src/domain/ and src/model/', () => {
    const map = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
    const missing = ['store', 'domain', 'model']
      .flatMap((room) => files(join(ROOT, 'src', room)))
      .map((path) => relative(join(ROOT, 'src'), path))
      // Named as code: `name.ts`, or at the end of a path in backticks (`sqlite/name.ts`).
      .filter((path) => !new RegExp(`[\`/]${path.split('/').pop()!.replaceAll('.', '\\.')}\``).test(map));
    assert.deepEqual(missing, [], 'files the map does not name');
  });

  it('no file in src/ is over 400 lines', () => {
    const long = files(join(ROOT, 'src'))
      .map((path) => [relative(ROOT, path), readFileSync(path, 'utf8').split('\n').length - 1] as const)
      .filter(([, lines]) => lines > 400);
    assert.deepEqual(long, [], 'split these by concern');
  });
});
