/**
 * The bindings a batch can touch, loaded by the store inside its transaction and indexed both
 * ways. The batch rules run against this set; the store then persists the changes they record.
 */
import {
  type AccountKey,
  accountKeyString,
  type Binding,
  bindingKeyString,
  type Change,
  type SeenCommand,
  type SweepCommand,
  type WriteCommand,
} from '../model/types.ts';

export class BindingSet {
  private readonly byToken = new Map<string, Map<string, Binding>>();
  private readonly byAccount = new Map<string, Map<string, Binding>>();

  constructor(bindings: Iterable<Binding> = []) {
    for (const binding of bindings) this.add(binding);
  }

  add(binding: Binding): void {
    const key = accountKeyString(binding);
    let accounts = this.byToken.get(binding.token);
    if (!accounts) this.byToken.set(binding.token, (accounts = new Map()));
    accounts.set(key, binding);
    let tokens = this.byAccount.get(key);
    if (!tokens) this.byAccount.set(key, (tokens = new Map()));
    tokens.set(binding.token, binding);
  }

  remove(binding: Binding): void {
    const key = accountKeyString(binding);
    this.byToken.get(binding.token)?.delete(key);
    this.byAccount.get(key)?.delete(binding.token);
  }

  get(token: string, account: AccountKey): Binding | undefined {
    return this.byToken.get(token)?.get(accountKeyString(account));
  }

  ofToken(token: string): Binding[] {
    return [...(this.byToken.get(token)?.values() ?? [])];
  }

  ofAccount(account: AccountKey): Binding[] {
    return [...(this.byAccount.get(accountKeyString(account))?.values() ?? [])];
  }

  countOfToken(token: string): number {
    return this.byToken.get(token)?.size ?? 0;
  }

  countOfAccount(account: AccountKey): number {
    return this.byAccount.get(accountKeyString(account))?.size ?? 0;
  }
}

/**
 * What a store must load before applying a command: every binding of these tokens and of these
 * accounts. That is enough for every rule, eviction included (SPEC §2.5).
 */
export function keysToLoad(command: Exclude<WriteCommand, SweepCommand | SeenCommand>): {
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
