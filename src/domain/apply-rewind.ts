/**
 * A rewind: the app's bindings made what they were at a time, from the history, which records
 * every change in the same transaction as the change. Pure, like apply-batch.ts.
 *
 * Whether a binding was there at the time is told by its oldest history entry written after it:
 * a removal or a change of state says it was; a bind that created it says it was not, one that
 * refreshed it says it was. A binding with no entry since is as it was. Which bindings exist is
 * rewound; a binding that stays keeps its state (a token a push provider reported dead since stays
 * quarantined: that is news about the device, not a mistake to undo), and one brought back is
 * bound afresh, active, as the newest of its token's and its account's.
 */
import type { BindingSet } from '../model/binding-set.ts';
import { RewindRefusedError } from '../model/errors.ts';
import type { BatchOutcome, RewindRow } from '../model/outcomes.ts';
import { asBound, bindingKeyString, type Change } from '../model/types.ts';

/** History entries a rewind reads at most: one write must stay one bounded transaction. */
export const REWIND_MAX_ENTRIES = 1_000_000;

/** The keys the rewind must load: every token an entry after the time names. */
export const rewindTokens = (rows: RewindRow[]): string[] => [...new Set(rows.map((r) => r.token))];

/** Per binding, its oldest entry after the time (its platform then), and whether it existed at the time. */
function stateAtTime(rows: RewindRow[]): Map<string, { row: RewindRow; existed: boolean }> {
  const first = new Map<string, { row: RewindRow; existed: boolean }>();
  for (const row of rows) {
    const key = bindingKeyString(row);
    if (first.has(key)) continue;
    // `created`: true, the entry made the binding (it was not there before); false, it refreshed it.
    // A bind without it was written by an older release; every other entry removed or changed a
    // binding that was there.
    if (row.created === null && row.cause === 'bind')
      throw new RewindRefusedError(
        `the history does not say whether the bind of token ${JSON.stringify(row.token)} to account ` +
          `${JSON.stringify(row.account)} created the binding (written by an older release): rewind to a later time`,
      );
    first.set(key, { row, existed: row.created !== true });
  }
  return first;
}

/** Applies the rewind to `set` (the current bindings of every token the rows name); `clock`: bind times. */
export function applyRewind(set: BindingSet, rows: RewindRow[], clock: () => number): BatchOutcome {
  const changes: Change[] = [];
  for (const { row, existed } of stateAtTime(rows).values()) {
    const current = set.get(row.token, row);
    if (existed && !current) {
      const { token, account, accountType, platform } = row;
      const binding = asBound({ token, account, accountType, platform, boundAt: clock() });
      set.add(binding);
      changes.push({ kind: 'put', binding, cause: 'rewind', op: 0, created: true });
    } else if (!existed && current) {
      set.remove(current);
      changes.push({ kind: 'delete', binding: current, cause: 'rewind', op: 0 });
    }
  }
  return { outcomes: [], changes };
}
