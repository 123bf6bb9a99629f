/**
 * Copies every app and binding from one store to another (e.g. SQLite -> PostgreSQL). Apps are
 * matched by AccessID and bindings by key, so a re-run converges instead of duplicating; the counts
 * are verified at the end.
 */

import { AppExistsError } from '../model/errors.ts';
import type { AppCounts, BindingStore } from '../model/store.ts';
import type { App } from '../model/types.ts';

export interface CopyProgress {
  app: string;
  copied: number;
  total: number;
}

export interface CopyReport {
  apps: number;
  bindings: number;
  /** Apps whose counts differ after the copy (the target had other bindings too). */
  mismatches: { accessId: string; source: AppCounts; target: AppCounts }[];
}

async function upsertApp(target: BindingStore, app: App): Promise<App> {
  const fields = {
    name: app.name,
    secretKey: app.secretKey,
    previousSecretKey: app.previousSecretKey,
    previousSecretExpiresAt: app.previousSecretExpiresAt,
    policy: app.policy,
  };
  try {
    await target.createApp({ accessId: app.accessId, name: app.name, secretKey: app.secretKey, policy: app.policy });
  } catch (error) {
    if (!(error instanceof AppExistsError)) throw error;
  }
  const updated = await target.updateApp(app.accessId, fields);
  if (!updated) throw new Error(`app ${app.accessId} vanished from the target while copying`);
  return updated;
}

export async function copyStore(
  source: BindingStore,
  target: BindingStore,
  onProgress: (progress: CopyProgress) => void = () => undefined,
  pageSize = 5000,
): Promise<CopyReport> {
  const apps = await source.listApps();
  const counts = new Map<string, AppCounts>();
  for (const app of apps) counts.set(app.accessId, await source.countBindings(app.id));
  const total = [...counts.values()].reduce((sum, c) => sum + c.bindings, 0);
  let copied = 0;
  const mismatches: CopyReport['mismatches'] = [];
  for (const app of apps) {
    const copy = await upsertApp(target, app);
    onProgress({ app: app.accessId, copied, total });
    for await (const page of source.exportBindings(app.id, pageSize)) {
      await target.importBindings(copy.id, page);
      copied += page.length;
      onProgress({ app: app.accessId, copied, total });
    }
    const sourceCounts = counts.get(app.accessId)!;
    const targetCounts = await target.countBindings(copy.id);
    if (JSON.stringify(sourceCounts) !== JSON.stringify(targetCounts))
      mismatches.push({ accessId: app.accessId, source: sourceCounts, target: targetCounts });
  }
  return { apps: apps.length, bindings: copied, mismatches };
}
