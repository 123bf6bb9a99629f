/**
 * The history's indexes by token and by account, in both backends, are led by the slice of
 * HISTORY_SLICE ids a change falls in (`id >> 10`: SQLite's migration 8, PostgreSQL's 6). Keyed by
 * token or account alone, every change written put its two index entries on two random pages of
 * ever-growing indexes; a group commit's changes now land in one or two slices and share a few pages
 * (durable batchoperate 1.4× on SQLite, 1.1-1.3× on PostgreSQL, BENCHMARKS.md). A look-up by token or
 * account reads the slices newest first, SLICES_PER_STEP to a statement.
 */
const HISTORY_SLICE = 1024;

/** Slices per statement of a look-up (~3 µs each on SQLite, ~5 on PostgreSQL): a step of a few ms. */
const SLICES_PER_STEP = 1000;

/**
 * The changes with ids below `beforeId`, newest first, at most `limit`, of an app whose history runs
 * from id `first` to `last`: `read(top, bottom, want)` answers the newest `want` changes of slices
 * `top` down to `bottom`, newest first. Between steps other work runs. Changes written meanwhile have
 * ids above `last` and are not part of the answer; a sweep removes only the oldest.
 */
export async function walkHistorySlices<R>(
  ids: { first: number | null; last: number | null },
  beforeId: number,
  limit: number,
  read: (top: number, bottom: number, want: number) => R[] | Promise<R[]>,
): Promise<R[]> {
  const rows: R[] = [];
  if (ids.first === null || ids.last === null) return rows;
  const end = Math.floor(ids.first / HISTORY_SLICE);
  let top = Math.floor(Math.min(beforeId - 1, ids.last) / HISTORY_SLICE);
  while (top >= end && rows.length < limit) {
    const bottom = Math.max(end, top - SLICES_PER_STEP + 1);
    rows.push(...(await read(top, bottom, limit - rows.length)));
    top = bottom - 1;
    if (top >= end && rows.length < limit) await new Promise((resolve) => setImmediate(resolve));
  }
  return rows;
}
