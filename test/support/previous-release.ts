/**
 * The previous release, unpacked from git history for the upgrade tests (test/upgrade/): the commit
 * package.json names in `bindery.previousRelease`, put in .previous-release/<commit> (ignored by git and by the checks)
 * with its own dependencies (this checkout's node_modules when its package-lock.json installs the same packages,
 * else `npm ci`). Its code runs from its sources through tsx, as its own tests run it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface PreviousRelease {
  version: string;
  commit: string;
  /** Where its files are. */
  dir: string;
}

/**
 * The environment variable under which release 0.1.0's migration runner uses a database migrated
 * past what it knows instead of refusing it (see `allowNewerSchema`): only the test that runs its
 * store suite against this release's schema sets it.
 */
export const ALLOW_NEWER = 'BINDERY_UPGRADE_TEST_ALLOW_NEWER_SCHEMA';

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stderr}${result.stdout}`);
  }
}

/**
 * Release 0.1.0 refused any database whose schema was newer than it knew, even one whose newer
 * migrations keep it working; from 0.2.0 on, the runner uses such a database unless a migration
 * says otherwise. Running 0.1.0's store suite on this release's schema needs that one check lifted,
 * behind ALLOW_NEWER; a previous release with the newer runner is left as it is.
 */
function allowNewerSchema(dir: string): void {
  const file = join(dir, 'src/store/migrations.ts');
  const text = readFileSync(file, 'utf8');
  if (text.includes('oldestReader')) return;
  const check = 'if (from > known) {';
  if (!text.includes(check)) throw new Error(`${file}: the check of a newer schema is not where 0.1.0 had it`);
  writeFileSync(file, text.replace(check, `if (from > known && process.env.${ALLOW_NEWER} !== '1') {`));
}

/** Whether two package-lock.json files install the same packages (their own version aside). */
function sameDependencies(a: string, b: string): boolean {
  const installs = (file: string) => {
    const lock = JSON.parse(readFileSync(file, 'utf8')) as {
      version?: string;
      packages: Record<string, { version?: string }>;
    };
    const { version: _, ...root } = lock.packages[''] ?? {};
    return JSON.stringify({ ...lock.packages, '': root });
  };
  return installs(a) === installs(b);
}

/** Unpacks the previous release once per machine (later calls find it ready). */
export function previousRelease(): PreviousRelease {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    bindery: { previousRelease: { version: string; commit: string } };
  };
  const { version, commit } = pkg.bindery.previousRelease;
  const dir = join(ROOT, '.previous-release', commit.slice(0, 12));
  if (existsSync(join(dir, '.ready'))) return { version, commit, dir };
  const known = spawnSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: ROOT });
  if (known.status !== 0) {
    throw new Error(
      `the previous release ${version} (${commit}) is not in this clone's history: ` +
        'clone the whole repository, or run `git fetch --unshallow`',
    );
  }
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  run('sh', ['-c', `git -C "$0" archive --format=tar "$1" | tar -x -C "$2"`, ROOT, commit, partial], ROOT);
  allowNewerSchema(partial);
  if (sameDependencies(join(partial, 'package-lock.json'), join(ROOT, 'package-lock.json')))
    symlinkSync(join(ROOT, 'node_modules'), join(partial, 'node_modules'), 'dir');
  else run('npm', ['ci', '--no-audit', '--no-fund'], partial);
  writeFileSync(join(partial, '.ready'), `${version} ${commit}\n`);
  try {
    renameSync(partial, dir);
  } catch (error) {
    // Another test file unpacked it at the same moment: theirs is as good.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(dir, '.ready'))) throw error;
  }
  return { version, commit, dir };
}
