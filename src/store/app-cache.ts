/**
 * findApp is on every request's path (authentication). Apps change rarely, so a store keeps them
 * for a moment: its own writes invalidate at once; a change made elsewhere (the CLI in another
 * process, another instance) is seen within `ttlMs`.
 */
import type { App } from '../domain/types.ts';

export class AppCache {
  private readonly entries = new Map<string, { app: App | undefined; at: number }>();

  constructor(
    private readonly ttlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  async get(accessId: string, load: () => Promise<App | undefined>): Promise<App | undefined> {
    const hit = this.entries.get(accessId);
    const now = Date.now();
    if (hit && now - hit.at < this.ttlMs) return hit.app;
    const app = await load();
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(accessId, { app, at: now });
    return app;
  }

  forget(accessId?: string): void {
    if (accessId === undefined) this.entries.clear();
    else this.entries.delete(accessId);
  }
}
