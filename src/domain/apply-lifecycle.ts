/**
 * The token lifecycle rules: providers' feedback quarantines dead tokens, a report of activity
 * refreshes last_seen_at, a restore lifts a quarantine, and the sweeper warns, expires and purges.
 * Pure, like apply-batch.ts: each reads and updates a BindingSet and records every change. A
 * token's bindings move together: quarantine, restore, seen and warning apply to all of them.
 */

import type { BindingSet } from '../model/binding-set.ts';
import { RetCode } from '../model/errors.ts';
import type { BatchOutcome, ElementOutcome, LifecycleAction, TokenPresence } from '../model/outcomes.ts';
import {
  type AppPolicy,
  type Binding,
  type Change,
  DAY_MS,
  type FeedbackCommand,
  type OperatorType,
  type RestoreCommand,
  type StateCause,
  type SweepCommand,
} from '../model/types.ts';

const NO_BINDING: ElementOutcome = { code: RetCode.NO_BINDING, message: 'the token has no bindings' };
const done = (action: LifecycleAction): ElementOutcome => ({ code: RetCode.OK, action });

/** A token quarantined now: every active binding of it, with the reason. */
function quarantine(set: BindingSet, changes: Change[], token: string, reason: string, at: number, cause: StateCause) {
  for (const b of set.ofToken(token)) {
    if (b.quarantinedAt !== null) continue;
    const binding: Binding = { ...b, quarantinedAt: at, quarantineReason: reason, expiryWarnedAt: null };
    set.add(binding);
    changes.push({ kind: 'state', binding, cause, op: 0 });
  }
}

/**
 * The token is alive as of `now` (bound, restored or reported seen): each of its bindings is
 * active, seen now and unwarned; a quarantined one is restored (`op`: what restored it).
 * Active bindings that `rewritten` says are about to be written afresh are left to that.
 */
export function revive(
  set: BindingSet,
  changes: Change[],
  token: string,
  now: number,
  op: OperatorType,
  rewritten: (b: Binding) => boolean = () => false,
): void {
  for (const b of set.ofToken(token)) {
    if (b.quarantinedAt === null && (rewritten(b) || (b.lastSeenAt === now && b.expiryWarnedAt === null))) continue;
    const binding: Binding = {
      ...b,
      lastSeenAt: now,
      quarantinedAt: null,
      quarantineReason: null,
      expiryWarnedAt: null,
    };
    set.add(binding);
    changes.push(
      b.quarantinedAt === null ? { kind: 'touch', binding } : { kind: 'state', binding, cause: 'restored', op },
    );
  }
}

/** The newest bind of the token, Unix ms. */
const lastBound = (bindings: Binding[]) => Math.floor(Math.max(...bindings.map((b) => b.boundAt)) / 1000);

export function applyFeedback(set: BindingSet, command: FeedbackCommand, now: number): BatchOutcome {
  const changes: Change[] = [];
  const outcomes = command.reports.map((report): ElementOutcome => {
    const bindings = set.ofToken(report.token);
    if (bindings.length === 0) return NO_BINDING;
    // APNs: stop sending "until the device registers a token with a later timestamp". A bind after
    // the answer means the device came back; the answer is about the token as it was.
    if (report.at < lastBound(bindings)) return done('stale');
    if (bindings.every((b) => b.quarantinedAt !== null)) return done('already_quarantined');
    quarantine(set, changes, report.token, report.reason, now, 'quarantined');
    return done('quarantined');
  });
  return { outcomes, changes };
}

/**
 * What a seen answers for each token the store touched (BatchTransaction.touchTokens). Seen does
 * not lift a quarantine: the provider's word that the token is dead stands until a bind or restore.
 */
export function seenOutcomes(found: TokenPresence[]): ElementOutcome[] {
  return found.map((presence) =>
    presence === 'active' ? done('seen') : presence === 'quarantined' ? done('already_quarantined') : NO_BINDING,
  );
}

export function applyRestore(set: BindingSet, command: RestoreCommand, now: number): BatchOutcome {
  const changes: Change[] = [];
  const outcomes = command.tokens.map((token): ElementOutcome => {
    const bindings = set.ofToken(token);
    if (bindings.length === 0) return NO_BINDING;
    const quarantined = bindings.some((b) => b.quarantinedAt !== null);
    revive(set, changes, token, now, 0);
    return done(quarantined ? 'restored' : 'active');
  });
  return { outcomes, changes };
}

/** Unix ms cutoffs of one sweep, from the app's policy; the expiry ones are null without a TTL. */
export interface LifecycleCutoffs {
  /** Quarantined before this: purged. */
  purgeBefore: number;
  /** Last seen before this and not warned: warned. */
  warnBefore: number | null;
  /** Last seen before this and warned at or before `warnedBefore`: expired. */
  expireBefore: number | null;
  warnedBefore: number | null;
}

export function lifecycleCutoffs(policy: AppPolicy, now: number): LifecycleCutoffs {
  const ttl = policy.tokenTtlDays;
  return {
    purgeBefore: now - policy.quarantineDays * DAY_MS,
    warnBefore: ttl === null ? null : now - (ttl - policy.expiryWarningDays) * DAY_MS,
    expireBefore: ttl === null ? null : now - ttl * DAY_MS,
    warnedBefore: ttl === null ? null : now - policy.expiryWarningDays * DAY_MS,
  };
}

export type SweepAction = 'purge' | 'expire' | 'warn' | 'none';

/**
 * What a sweep does with a token, decided on all its bindings: purge what was quarantined before
 * purgeBefore; else, for an active token, expire it when its newest last_seen_at is past the TTL
 * and its warning is old enough, or warn when it is within expiry_warning_days of that. The one
 * decision for the sweeper's scan and for the rules, which make it again under the app's lock.
 */
export function sweepAction(bindings: Binding[], cut: LifecycleCutoffs): SweepAction {
  if (bindings.some((b) => b.quarantinedAt !== null && b.quarantinedAt < cut.purgeBefore)) return 'purge';
  const active = bindings.filter((b) => b.quarantinedAt === null);
  if (active.length === 0 || cut.warnBefore === null || cut.expireBefore === null || cut.warnedBefore === null)
    return 'none';
  const lastSeen = Math.max(...active.map((b) => b.lastSeenAt));
  const warnedAt = active.every((b) => b.expiryWarnedAt !== null)
    ? Math.max(...active.map((b) => b.expiryWarnedAt ?? 0))
    : null;
  if (lastSeen < cut.expireBefore && warnedAt !== null && warnedAt <= cut.warnedBefore) return 'expire';
  if (lastSeen < cut.warnBefore && warnedAt === null) return 'warn';
  return 'none';
}

/** One sweep over these tokens: each is purged, expired, warned, or left as it is. */
export function applySweep(set: BindingSet, command: SweepCommand, policy: AppPolicy, tokens: string[]): BatchOutcome {
  const changes: Change[] = [];
  const cut = lifecycleCutoffs(policy, command.now);
  const outcomes = tokens.map((token): ElementOutcome => {
    const bindings = set.ofToken(token);
    switch (sweepAction(bindings, cut)) {
      case 'purge':
        for (const binding of bindings) {
          if (binding.quarantinedAt === null || binding.quarantinedAt >= cut.purgeBefore) continue;
          set.remove(binding);
          changes.push({ kind: 'delete', binding, cause: 'purged', op: 0 });
        }
        return done('purged');
      case 'expire':
        quarantine(set, changes, token, `expired: not seen for ${policy.tokenTtlDays} days`, command.now, 'expired');
        return done('expired');
      case 'warn':
        for (const b of bindings) {
          if (b.quarantinedAt !== null) continue;
          const binding: Binding = { ...b, expiryWarnedAt: command.now };
          set.add(binding);
          changes.push({ kind: 'touch', binding, warned: true });
        }
        return done('warned');
      default: // 'none'
        return done('unchanged');
    }
  });
  return { outcomes, changes };
}
