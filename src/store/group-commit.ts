/**
 * Group commit: writes that arrive while a commit is being flushed wait and then go together in the
 * next one, so N concurrent writers share one fsync instead of queueing N of them.
 */
export type GroupResult<R> = { ok: true; value: R } | { ok: false; error: Error };

interface Pending<C, R> {
  command: C;
  resolve: (value: R) => void;
  reject: (error: Error) => void;
}

export class GroupCommitQueue<C, R> {
  private pending: Pending<C, R>[] = [];
  private flushing: Promise<void> | null = null;

  /**
   * @param commit applies the commands in one transaction and returns one result per command,
   *   or rejects when the transaction as a whole failed (then every command in it fails).
   * @param maxGroup upper bound on commands per transaction, to bound its size and latency.
   */
  constructor(
    private readonly commit: (commands: C[]) => Promise<GroupResult<R>[]>,
    private readonly maxGroup = 512,
  ) {}

  submit(command: C): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ command, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Resolves once every submitted command has been answered. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.pending.splice(0, this.maxGroup);
        let results: GroupResult<R>[];
        try {
          results = await this.commit(group.map((p) => p.command));
        } catch (error) {
          const e = error instanceof Error ? error : new Error(String(error));
          for (const p of group) p.reject(e);
          continue;
        }
        group.forEach((p, i) => {
          const result = results[i];
          if (!result) p.reject(new Error('the store returned no result for a command'));
          else if (result.ok) p.resolve(result.value);
          else p.reject(result.error);
        });
      }
    } finally {
      this.flushing = null;
    }
  }
}
