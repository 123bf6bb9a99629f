/**
 * What a command reads and what it writes: the keys whose bindings a store loads before the rules
 * run, and the net change it writes after.
 */
import type { BindingSet } from '../model/binding-set.ts';
import {
  type AccountKey,
  accountKeyString,
  type Binding,
  bindingKeyString,
  type Change,
  type RewindCommand,
  type SeenCommand,
  type SweepCommand,
  type WriteCommand,
} from '../model/types.ts';

/**
 * What a store must load before applying a command: every binding of these tokens and of these
 * accounts. That is enough for every rule, eviction included (SPEC §2.5).
 */
export function keysToLoad(command: Exclude<WriteCommand, SweepCommand | SeenCommand | RewindCommand>): {
  tokens: string[];
  accounts: AccountKey[];
} {
  if (command.kind === 'feedback') return { tokens: [...new Set(command.reports.map((r) => r.token))], accounts: [] };
  if (command.kind === 'restore') return { tokens: [...new Set(command.tokens)], accounts: [] };
  const tokens = new Set<string>();
  const accounts = new Map<string, AccountKey>();
  for (const element of command.elements) {
    if (element.op === 5) {
      accounts.set(accountKeyString(element.account), element.account);
      continue;
    }
    tokens.add(element.token);
    if (element.op !== 4) for (const account of element.accounts) accounts.set(accountKeyString(account), account);
  }
  return { tokens: [...tokens], accounts: [...accounts.values()] };
}

/**
 * The net effect of a command's changes on storage: the final state of every binding they touched.
 * A store writes this (one upsert set, one delete set) instead of replaying each change.
 */
export function netChanges(set: BindingSet, changes: Change[]): { upserts: Binding[]; deletes: Binding[] } {
  const touched = new Map<string, Binding>();
  const touch = (b: Binding) => touched.set(bindingKeyString(b), b);
  for (const change of changes) {
    if (change.kind === 'platform') set.ofToken(change.token).forEach(touch);
    else touch(change.binding);
  }
  const upserts: Binding[] = [];
  const deletes: Binding[] = [];
  for (const b of touched.values()) {
    const current = set.get(b.token, b);
    if (current) upserts.push(current);
    else deletes.push(b);
  }
  return { upserts, deletes };
}
