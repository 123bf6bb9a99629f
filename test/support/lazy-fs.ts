/**
 * A mount of test/support/lazyfs.py: a filesystem that keeps every write in memory until it is
 * fsynced. `powerCut()` kills it with SIGKILL, so what was not synced is gone, and mounts it again on
 * what was. Needs /dev/fuse, fusermount and Debian's python3-fusepy (`npm test` installs it).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./lazyfs.py', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const mounted = (mountpoint: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === mountpoint);

export class LazyFs {
  private child: ChildProcess | null = null;
  private log = '';
  /** How many power cuts it went through. */
  cuts = 0;

  private constructor(
    readonly backing: string,
    readonly mountpoint: string,
  ) {}

  /** Mounts a new lazy filesystem at `dir`/mnt over `dir`/backing. */
  static async mount(dir: string): Promise<LazyFs> {
    const fs = new LazyFs(join(dir, 'backing'), join(dir, 'mnt'));
    mkdirSync(fs.backing, { recursive: true, mode: 0o755 });
    mkdirSync(fs.mountpoint, { recursive: true, mode: 0o755 });
    await fs.start();
    return fs;
  }

  private async start(): Promise<void> {
    const child = spawn('/usr/bin/python3', [SCRIPT, this.backing, this.mountpoint], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    // A test that failed before unmounting must still end: the mount never holds the process open.
    child.unref();
    child.stdout?.on('data', (c: Buffer) => (this.log += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.log += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!mounted(this.mountpoint)) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`lazyfs did not mount at ${this.mountpoint} (is python3-fusepy installed?):\n${this.log}`);
      await sleep(20);
    }
  }

  private async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    // The kernel keeps the dead mount ("transport endpoint is not connected") until it is detached.
    spawnSync('fusermount3', ['-u', '-z', this.mountpoint]);
  }

  /** The power goes: every write not yet fsynced is lost. Then it comes back (mounted again). */
  async powerCut(): Promise<void> {
    await this.kill();
    this.cuts++;
    await this.start();
  }

  async unmount(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child?.once('exit', resolve));
      const result = spawnSync('fusermount3', ['-u', this.mountpoint]);
      if (result.status === 0) await exited;
    }
    await this.kill();
  }
}
