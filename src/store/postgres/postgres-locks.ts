/**
 * The locks a PostgreSQL group transaction takes: not the whole app, but each key a
 * batch touches — the tokens and accounts it names, the far ends of the bindings it writes, its
 * Idempotency-Key — as advisory transaction locks (app id, key hash). The app itself is held
 * shared, so that what must see all of it (a sweep, a seen, a change of policy, a deletion) holds
 * it exclusive and waits for the others.
 *
 * Locks are only ever waited for at a group's start, all at once and in one fixed order (app,
 * then key): after that a group only tries (pg_try_advisory_xact_lock, which never waits), and a
 * batch that finds a key taken is deferred to a later group that waits for it first. A group
 * therefore never waits while holding a lock it took out of order, so two groups can never
 * deadlock, wherever their instances run.
 *
 * Why this is exact (the replay in revision order, caps, eviction): every write of a binding
 * (token, account) holds both its token and its account, so the bindings of a key a batch holds
 * cannot change until it commits, and what it loaded is what is there. Two batches that hold no
 * key in common read and write disjoint bindings, so either order gives the same state; two that
 * share a key are ordered by it (the second starts after the first has committed). Revisions are
 * taken at the end of the group from the app's row (postgres-writer.ts), which serializes the
 * commits of one app, so revision order is commit order and agrees with every such ordering.
 */
import type pg from 'pg';
import type { AccountKey } from '../../model/types.ts';
import { withArrayLiterals } from './postgres-arrays.ts';
import { SQL } from './postgres-queries.ts';

/** The app's own lock: shared by a group that writes keys of it, exclusive for what needs all of it. */
const APP_KEY = 0;

/** FNV-1a over the text, as a non-zero int32 (0 is the app's own lock). A collision only serializes two keys. */
function keyOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0 || 1;
}

export const tokenLock = (token: string): number => keyOf(`t:${token}`);
export const accountLock = (account: AccountKey): number => keyOf(`a:${account.accountType}:${account.account}`);
export const idempotencyLock = (key: string): number => keyOf(`i:${key}`);

export type AppMode = 'shared' | 'exclusive';

/** What one group transaction holds, and the statements that take more. */
export class GroupLocks {
  private readonly held = new Map<number, Set<number> | 'all'>();

  constructor(private readonly client: pg.PoolClient) {}

  /**
   * Waits for each app (shared or exclusive), then for each key of `wanted` of a shared app, in
   * (app, key) order: the only place a group waits for a lock.
   */
  async wait(apps: Map<number, AppMode>, wanted: Map<number, Iterable<number>>): Promise<void> {
    const order: [app: number, key: number, shared: boolean][] = [];
    for (const [app, mode] of apps) {
      order.push([app, APP_KEY, mode === 'shared']);
      this.held.set(app, mode === 'exclusive' ? 'all' : new Set());
      if (mode === 'shared') for (const key of new Set(wanted.get(app) ?? [])) order.push([app, key, false]);
    }
    order.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    await this.client.query(
      SQL.locksWait,
      withArrayLiterals([order.map((o) => o[0]), order.map((o) => o[1]), order.map((o) => o[2])]),
    );
    for (const [app, key] of order) if (key !== APP_KEY) (this.held.get(app) as Set<number>).add(key);
  }

  /** The keys of `keys` this group does not hold yet (none, for an app it holds exclusive). */
  missing(app: number, keys: Iterable<number>): number[] {
    const held = this.held.get(app);
    if (held === 'all') return [];
    const missing = new Set<number>();
    for (const key of keys) if (!held?.has(key)) missing.add(key);
    return [...missing];
  }

  /**
   * Tries the keys (app, key) without waiting; answers those another transaction holds. The ones
   * it got stay held to the commit, like every lock of the group.
   */
  async attempt(pairs: [app: number, key: number][]): Promise<Set<string>> {
    const taken = new Set<string>();
    if (pairs.length === 0) return taken;
    const { rows } = await this.client.query<{ app: number; key: number }>(
      SQL.locksTry,
      withArrayLiterals([pairs.map((p) => p[0]), pairs.map((p) => p[1])]),
    );
    for (const row of rows) taken.add(`${row.app}:${row.key}`);
    for (const [app, key] of pairs)
      if (taken.size === 0 || !taken.has(`${app}:${key}`)) (this.held.get(app) as Set<number> | undefined)?.add(key);
    return taken;
  }
}

/** A batch that found a key it needs held by another transaction: it runs again in a later group, which waits for these. */
export class KeysTaken extends Error {
  constructor(readonly keys: number[]) {
    super(`${keys.length} key(s) held by another transaction`);
  }
}
