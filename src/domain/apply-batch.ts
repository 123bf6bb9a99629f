/**
 * The batchoperate rules (SPEC §2.4, §2.5): ops 1..5, bind-time order, caps and eviction.
 * Pure: it reads and updates a BindingSet and records every change; the store persists them.
 */

import type { BindingSet } from '../model/binding-set.ts';
import { RetCode } from '../model/errors.ts';
import type { BatchOutcome, ElementOutcome } from '../model/outcomes.ts';
import {
  type AccountKey,
  type AppPolicy,
  accountKeyString,
  asBound,
  type BatchCommand,
  type BatchElement,
  type Binding,
  type Change,
  type ChangeCause,
  type OperatorType,
  type Platform,
  type StateCause,
} from '../model/types.ts';
import { revive } from './apply-lifecycle.ts';

/** Returns strictly increasing bind times. */
export type BindClock = () => number;

const NO_BINDING: ElementOutcome = { code: RetCode.NO_BINDING, message: 'has no bindings' };
const OK: ElementOutcome = { code: RetCode.OK };

/**
 * The binding a cap evicts: a quarantined one first (its token is dead; it is not sent to), the
 * least recently bound of those, else the least recently bound.
 */
const victim = (bindings: Binding[], except: (b: Binding) => boolean): Binding | undefined => {
  let found: Binding | undefined;
  const before = (a: Binding, b: Binding) =>
    (a.quarantinedAt !== null) !== (b.quarantinedAt !== null) ? a.quarantinedAt !== null : a.boundAt < b.boundAt;
  for (const b of bindings) if (!except(b) && (!found || before(b, found))) found = b;
  return found;
};

/**
 * Later occurrences win: duplicates in one list apply in order, so the last is the newest. Under
 * the `tpns` rules an account_type is a slot: the last account listed of each type takes it.
 */
function distinctInOrder(accounts: AccountKey[], onePerType: boolean): AccountKey[] {
  const byKey = new Map<string, AccountKey>();
  for (const account of accounts) {
    const key = onePerType ? String(account.accountType) : accountKeyString(account);
    byKey.delete(key);
    byKey.set(key, account);
  }
  return [...byKey.values()];
}

/** `now`: Unix ms, the last_seen_at of every token bound. */
export function applyBatch(
  set: BindingSet,
  command: BatchCommand,
  policy: AppPolicy,
  clock: BindClock,
  now: number,
): BatchOutcome {
  const changes: Change[] = [];

  let op: OperatorType = 1;
  const remove = (binding: Binding, cause: Exclude<ChangeCause, 'bind' | StateCause>) => {
    set.remove(binding);
    changes.push({ kind: 'delete', binding, cause, op });
  };

  const bind = (token: string, account: AccountKey, platform: Platform | null) => {
    // Seen when bound: a fresh binding is plain (its lifecycle columns stay empty in the store).
    const binding = asBound({
      token,
      account: account.account,
      accountType: account.accountType,
      platform,
      boundAt: clock(),
    });
    const created = set.get(token, account) === undefined;
    set.add(binding);
    changes.push({ kind: 'put', binding, cause: 'bind', op, created });
    // Caps: another binding goes (victim: a quarantined one first), in this same transaction.
    while (set.countOfToken(token) > policy.maxAccountsPerToken) {
      const evicted = victim(set.ofToken(token), (b) => b === binding);
      if (!evicted) break;
      remove(evicted, 'evicted');
    }
    while (set.countOfAccount(account) > policy.maxTokensPerAccount) {
      const evicted = victim(set.ofAccount(account), (b) => b === binding);
      if (!evicted) break;
      remove(evicted, 'evicted');
    }
  };

  /** The platform is recorded on the token: a given one applies to all its bindings, else the known one is kept. */
  const tokenPlatform = (token: string): Platform | null => {
    const current = set.ofToken(token);
    if (command.platform === null) return current[0]?.platform ?? null;
    if (current.some((b) => b.platform !== command.platform)) {
      for (const b of current) set.add({ ...b, platform: command.platform });
      changes.push({ kind: 'platform', token, platform: command.platform });
    }
    return command.platform;
  };

  const tpns = policy.bindingRules === 'tpns';
  const applyElement = (element: BatchElement): ElementOutcome => {
    op = element.op;
    switch (element.op) {
      case 1:
      case 2: {
        const accounts = distinctInOrder(element.accounts, tpns);
        if (accounts.length > policy.maxAccountsPerToken) {
          return {
            code: RetCode.INVALID_PARAMETER,
            field: 'account_list',
            message:
              `${accounts.length} distinct accounts, more than this app's max_accounts_per_token ` +
              `(${policy.maxAccountsPerToken})`,
          };
        }
        // Read (or record) the token's platform before an override removes the bindings that carry it.
        const platform = tokenPlatform(element.token);
        // Under the tpns rules op 1 is op 2; a binding whose account_type slot another account takes is `replaced`.
        if (element.op === 2 || tpns) {
          const keep = new Set(accounts.map(accountKeyString));
          const types = new Set(accounts.map((a) => a.accountType));
          for (const b of set.ofToken(element.token)) {
            if (!keep.has(accountKeyString(b))) remove(b, tpns && types.has(b.accountType) ? 'replaced' : 'override');
          }
        }
        // The device registered again: the token is alive, its other bindings too (a quarantine is lifted).
        const listed = new Set(accounts.map(accountKeyString));
        revive(set, changes, element.token, now, op, (b) => listed.has(accountKeyString(b)));
        for (const account of accounts) bind(element.token, account, platform);
        return OK;
      }
      case 3: {
        let removed = 0;
        for (const account of element.accounts) {
          const bound = set.get(element.token, account);
          if (bound) {
            remove(bound, 'unbind');
            removed++;
          }
        }
        return removed > 0
          ? OK
          : { code: RetCode.NO_BINDING, message: 'none of the listed accounts is bound to this token' };
      }
      case 4: {
        const bound = set.ofToken(element.token);
        for (const b of bound) remove(b, 'token_reset');
        return bound.length > 0 ? OK : NO_BINDING;
      }
      case 5: {
        const bound = set.ofAccount(element.account);
        for (const b of bound) remove(b, 'account_reset');
        return bound.length > 0 ? OK : NO_BINDING;
      }
    }
  };
  const outcomes = command.elements.map(applyElement);
  return { outcomes, changes };
}
