/**
 * Group commit: writes that arrive while a commit is being flushed wait and then go together in the
 * next one, so N concurrent writers share one fsync instead of queueing N of them. A store whose
 * transactions can run side by side (PostgreSQL) lets several groups be in flight at once.
 *
 * Fair shares: the next group takes the waiting commands app by app in turns (each app's in the
 * order they came), and stops at a budget of work (bindings named), so one app's flood neither
 * goes ahead of another app's write nor makes the commit that carries it long. Any order of the
 * commands waiting is a correct one: none of them has been answered, so none happened before another.
 */
import type { WriteCommand } from '../model/types.ts';
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

/** How the next group is shared out among tenants (apps). */
export interface FairShare<C> {
  /** Whose command it is: commands of one tenant keep their order. */
  tenantOf(command: C): number | string;
  /** The work it brings (bindings it names, at least 1). */
  weightOf(command: C): number;
  /** A group stops taking at this much work (it always takes one command). */
  budget: number;
}

/** The work of a batch: the bindings its elements name (1 for anything else). */
export function batchWeight(command: WriteCommand): number {
  if (!('elements' in command)) return 1;
  let weight = 0;
  for (const e of command.elements) weight += 'accounts' in e ? Math.max(1, e.accounts.length) : 1;
  return Math.max(1, weight);
}

/**
 * Of the `candidates` (indices of `commands`, ascending), those the next group takes: a tenant's
 * next command at each turn, in order of each tenant's oldest, until the budget or `max` commands.
 * A tenant whose next command does not fit takes no later one.
 */
export function inTurns<C>(commands: C[], candidates: number[], share: FairShare<C>, max: number): number[] {
  const queues = new Map<number | string, number[]>();
  for (const i of candidates) {
    const tenant = share.tenantOf(commands[i]!);
    const queue = queues.get(tenant);
    if (queue) queue.push(i);
    else queues.set(tenant, [i]);
  }
  const picked: number[] = [];
  let work = 0;
  let turn = [...queues.values()];
  while (turn.length > 0 && picked.length < max) {
    const next: number[][] = [];
    for (const queue of turn) {
      const i = queue[0]!;
      const weight = share.weightOf(commands[i]!);
      if (picked.length > 0 && work + weight > share.budget) continue;
      picked.push(i);
      work += weight;
      queue.shift();
      if (queue.length > 0) next.push(queue);
      if (picked.length >= max) break;
    }
    turn = next;
  }
  return picked;
}

/** The work one group takes at most (bindings): measured in BENCHMARKS.md, "One tenant's writes beside another's flood". */
export const GROUP_BUDGET = 2000;

/**
 * The candidates of the tenants with little work waiting (at most budget / 8), when others wait with
 * more: they go in a short group of their own rather than wait for a long one. Null when there is no
 * such split (all waiting are light, or all heavy).
 */
export function lightOnes<C>(commands: C[], candidates: number[], share: FairShare<C>): number[] | null {
  const work = new Map<number | string, number>();
  for (const i of candidates) {
    const tenant = share.tenantOf(commands[i]!);
    work.set(tenant, (work.get(tenant) ?? 0) + share.weightOf(commands[i]!));
  }
  const light = share.budget / 8;
  const lightTenants = new Set([...work].filter(([, w]) => w <= light).map(([t]) => t));
  if (lightTenants.size === 0 || lightTenants.size === work.size) return null;
  return candidates.filter((i) => lightTenants.has(share.tenantOf(commands[i]!)));
}

export class GroupCommitQueue<C, R> {
  private pending: Pending<C, R>[] = [];
  private readonly committing = new Set<C[]>();
  /** Flushes running; counted down in the flush itself, so that a submit never sees one that has stopped taking. */
  private running = 0;
  private readonly flushes = new Set<Promise<void>>();
  /** The last group was the light tenants' own: the next takes every tenant's turn, so no flood of light ones starves a heavy one. */
  private lightLast = false;

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
    /** Without it, the waiting commands go in the order they came, up to maxGroup. */
    private readonly share?: FairShare<C>,
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

  /** The next group: up to maxGroup of the waiting commands the scheduler allows, in fair shares. */
  private take(): Pending<C, R>[] {
    if (this.committing.size === 0 && !this.share) return this.pending.splice(0, this.maxGroup);
    const commands = this.pending.map((p) => p.command);
    const allowed =
      this.committing.size === 0 ? commands.map((_, i) => i) : this.inFlight.scheduler.pick(commands, this.committing);
    const picked = this.share ? this.fairShare(commands, allowed, this.share) : allowed.slice(0, this.maxGroup);
    const chosen = new Set(picked);
    const group = picked.map((i) => this.pending[i]!);
    this.pending = this.pending.filter((_, i) => !chosen.has(i));
    return group;
  }

  /** In turns; the light tenants first, in a group of their own, every other group. */
  private fairShare(commands: C[], allowed: number[], share: FairShare<C>): number[] {
    const light = this.lightLast ? null : lightOnes(commands, allowed, share);
    this.lightLast = light !== null;
    return inTurns(commands, light ?? allowed, share, this.maxGroup);
  }
}
