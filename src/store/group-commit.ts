/**
 * Group commit: writes that arrive while a commit is being flushed wait and then go together in the
 * next one, so N concurrent writers share one fsync instead of queueing N of them. A store whose
 * transactions can run side by side (PostgreSQL) lets several groups be in flight at once.
 */
export type GroupResult<R> = { ok: true; value: R } | { ok: false; error: Error };

interface Pending<C, R> {
  command: C;
  resolve: (value: R) => void;
  reject: (error: Error) => void;
}

/**
 * With several groups in flight, which commands may go together now: those that conflict with
 * no group in flight (nor with a command left waiting before them, so that commands that conflict
 * run in the order they came). A command left out waits for a later group.
 */
export interface GroupScheduler<C> {
  /** The indices of `waiting` (ascending) that may go in the next group, given the groups in flight. */
  pick(waiting: C[], inFlight: Iterable<C[]>): number[];
}

export class GroupCommitQueue<C, R> {
  private pending: Pending<C, R>[] = [];
  private readonly committing = new Set<C[]>();
  /** Flushes running; counted down in the flush itself, so that a submit never sees one that has stopped taking. */
  private running = 0;
  private readonly flushes = new Set<Promise<void>>();

  /**
   * @param commit applies the commands in one transaction and returns one result per command,
   *   or rejects when the transaction as a whole failed (then every command in it fails).
   * @param maxGroup upper bound on commands per transaction, to bound its size and latency.
   * @param inFlight how many groups may be committing at once, and which commands may go together then.
   */
  constructor(
    private readonly commit: (commands: C[]) => Promise<GroupResult<R>[]>,
    private readonly maxGroup = 512,
    private readonly inFlight: { groups: number; scheduler: GroupScheduler<C> } = {
      groups: 1,
      scheduler: { pick: (waiting) => waiting.map((_, i) => i) },
    },
  ) {}

  submit(command: C): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ command, resolve, reject });
      if (this.running < this.inFlight.groups) {
        this.running++;
        const flush = this.flush();
        this.flushes.add(flush);
        void flush.then(() => this.flushes.delete(flush));
      }
    });
  }

  /** Resolves once every submitted command has been answered. */
  async drain(): Promise<void> {
    while (this.running > 0) await Promise.all(this.flushes);
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.take();
        // What waits conflicts with a group in flight, whose flush takes it once that has committed.
        if (group.length === 0) break;
        const commands = group.map((p) => p.command);
        let results: GroupResult<R>[];
        this.committing.add(commands);
        try {
          results = await this.commit(commands);
        } catch (error) {
          const e = error instanceof Error ? error : new Error(String(error));
          for (const p of group) p.reject(e);
          continue;
        } finally {
          this.committing.delete(commands);
        }
        group.forEach((p, i) => {
          const result = results[i];
          if (!result) p.reject(new Error('the store returned no result for a command'));
          else if (result.ok) p.resolve(result.value);
          else p.reject(result.error);
        });
      }
    } finally {
      this.running--;
    }
  }

  /** The next group: up to maxGroup of the waiting commands, as the scheduler picks them. */
  private take(): Pending<C, R>[] {
    if (this.committing.size === 0) return this.pending.splice(0, this.maxGroup);
    const picked = this.inFlight.scheduler
      .pick(
        this.pending.map((p) => p.command),
        this.committing,
      )
      .slice(0, this.maxGroup);
    const chosen = new Set(picked);
    const group = picked.map((i) => this.pending[i]!);
    this.pending = this.pending.filter((_, i) => !chosen.has(i));
    return group;
  }
}
