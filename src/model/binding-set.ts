/**
 * Bindings indexed both ways, by token and by account, each binding once under its key. The rules
 * run a batch against one (the bindings it can touch, src/domain/run-batch.ts); a PostgreSQL group
 * keeps an app's loaded bindings in one (postgres-group-bindings.ts).
 */
import { type AccountKey, accountKeyString, type Binding } from './types.ts';

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
