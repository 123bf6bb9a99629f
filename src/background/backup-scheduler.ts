/**
 * Scheduled backups of the SQLite store (BINDERY_BACKUP_DIR, _INTERVAL, _KEEP): one at start (a
 * restart, an upgrade's included, is a good moment for one) and one every interval after, named
 * `bindery-<UTC time>.db`, the oldest deleted beyond KEEP. A failed backup is logged and
 * counted and the next one is tried at the next interval; serving never stops for it.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';

/** What one backup reports (sqlite-backup.ts BackupSummary, the part logged). */
export interface TakenBackup {
  file: string;
  bytes: number;
  seconds: number;
  bindings: number;
}

const NAME = /^bindery-\d{8}T\d{6}(\d{3})?Z\.db$/;
const PARTIAL = /^bindery-\d{8}T\d{6}(\d{3})?Z\.db\.partial-\d+$/;

export const backupName = (at: Date): string => `bindery-${at.toISOString().replace(/[-:]/g, '').replace('.', '')}.db`;

export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly options: { dir: string; intervalMs: number; keep: number },
    private readonly take: (dest: string) => Promise<TakenBackup>,
    private readonly report: { succeeded: (at: number) => void; failed: () => void },
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    mkdirSync(this.options.dir, { recursive: true, mode: 0o700 });
    // A copy a crash cut off is never a backup (only a checked one is renamed to its name): removed.
    for (const name of readdirSync(this.options.dir)) {
      if (PARTIAL.test(name)) rmSync(join(this.options.dir, name), { force: true });
    }
    void this.backupNow();
    this.timer = setInterval(() => void this.backupNow(), this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Takes one backup now (none if one is still running); resolves with it, or null when it failed. */
  async backupNow(): Promise<TakenBackup | null> {
    if (this.running) return null;
    const at = new Date();
    const dest = join(this.options.dir, backupName(at));
    const run = this.take(dest).then(
      (taken) => {
        this.report.succeeded(at.getTime());
        this.log.info(
          { file: taken.file, bytes: taken.bytes, seconds: taken.seconds, bindings: taken.bindings },
          'scheduled backup taken and checked',
        );
        this.prune();
        return taken;
      },
      (error: unknown) => {
        this.report.failed();
        this.log.error(
          { err: error, file: dest },
          'scheduled backup failed; serving goes on, next try at the next interval',
        );
        return null;
      },
    );
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = null;
    }
  }

  /** Deletes the oldest backups beyond `keep` (only files named as this scheduler names them). */
  private prune(): void {
    const ours = readdirSync(this.options.dir)
      .filter((name) => NAME.test(name))
      .sort();
    for (const name of ours.slice(0, Math.max(0, ours.length - this.options.keep))) {
      rmSync(join(this.options.dir, name), { force: true });
    }
  }
}
