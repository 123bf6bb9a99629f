/**
 * findApp is on every request's path (authentication). Apps change rarely, so a store keeps them
 * for a moment: its own writes invalidate at once; a change made elsewhere (the CLI in another
 * process, another instance) is seen within `ttlMs`.
 */
import type { App } from '../model/types.ts';

export class AppCache {
  private readonly entries = new Map<string, { app: App | undefined; at: number }>();

  constructor(
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  async get(accessId: string, load: () => Promise<App | undefined>): Promise<App | undefined> {
    const hit = this.fresh(accessId);
    if (hit) return hit.app;
    const at = Date.now();
    return this.keep(accessId, await load(), at);
  }

  /** The entry if it is younger than the TTL (without a promise: a store that loads synchronously checks this first). */
  fresh(accessId: string): { app: App | undefined } | undefined {
    const hit = this.entries.get(accessId);
    return hit && Date.now() - hit.at < this.ttlMs ? hit : undefined;
  }

  /** Keeps what was loaded (`at`: when the load began) and answers it. */
  keep(accessId: string, app: App | undefined, at = Date.now()): App | undefined {
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(accessId, { app, at });
    return app;
  }

  forget(accessId?: string): void {
    if (accessId === undefined) this.entries.clear();
    else this.entries.delete(accessId);
  }
}
