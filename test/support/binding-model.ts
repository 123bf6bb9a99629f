/**
 * A reference model of SPEC §2.4-2.5, written independently of src/domain (plain arrays, no
 * indexes) so that tests can check what a real server answered against what the spec says.
 */
export interface ModelRow {
  token: string;
  account: string;
  type: number;
  t: number;
  /** Quarantined: kept, but not answered in queries. */
  q?: boolean;
}

export interface ModelAccount {
  account: string;
  account_type?: number;
}

export interface ModelPolicy {
  maxTokensPerAccount: number;
  maxAccountsPerToken: number;
  /** `tpns`: op 1 is op 2, and a token holds one account per account_type (the later listed wins). */
  bindingRules?: 'append' | 'tpns';
}

export type ModelRequest =
  | { operator_type: 1 | 2 | 3; token_accounts: { token: string; account_list: ModelAccount[] }[] }
  | { operator_type: 4; token_list: string[] }
  | { operator_type: 5; account_list: ModelAccount[] };

export class BindingModel {
  rows: ModelRow[] = [];
  private t = 0;

  constructor(public policy: ModelPolicy) {}

  /** Applies one batchoperate request; returns the `result` array the server must answer. */
  apply(request: ModelRequest): string[] {
    const same = (r: ModelRow, token: string, a: ModelAccount) =>
      r.token === token && r.account === a.account && r.type === (a.account_type ?? 0);
    const drop = (victim: ModelRow) => (this.rows = this.rows.filter((r) => r !== victim));
    const bindOne = (token: string, a: ModelAccount) => {
      this.rows = this.rows.filter((r) => !same(r, token, a));
      const row = { token, account: a.account, type: a.account_type ?? 0, t: ++this.t };
      this.rows.push(row);
      // After a cap was lowered there can be several too many: evict down to the cap, oldest first.
      for (
        let others = this.rows.filter((r) => r.token === token && r !== row);
        others.length + 1 > this.policy.maxAccountsPerToken;
        others = this.rows.filter((r) => r.token === token && r !== row)
      ) {
        drop(others.reduce((x, y) => (y.t < x.t ? y : x)));
      }
      // An account's tokens: a quarantined (dead) one goes first, the oldest of those.
      for (
        let others = this.rows.filter((r) => r.account === row.account && r.type === row.type && r !== row);
        others.length + 1 > this.policy.maxTokensPerAccount;
        others = this.rows.filter((r) => r.account === row.account && r.type === row.type && r !== row)
      ) {
        const dead = others.filter((r) => r.q);
        drop((dead.length > 0 ? dead : others).reduce((x, y) => (y.t < x.t ? y : x)));
      }
    };
    const tpns = this.policy.bindingRules === 'tpns';
    const distinct = (list: ModelAccount[]) => {
      const out: ModelAccount[] = [];
      for (const a of list) {
        // tpns: an account_type is one slot, so any earlier entry of the same type gives way.
        const i = out.findIndex(
          (b) => (tpns || b.account === a.account) && (b.account_type ?? 0) === (a.account_type ?? 0),
        );
        if (i >= 0) out.splice(i, 1);
        out.push(a);
      }
      return out;
    };
    switch (request.operator_type) {
      case 1:
      case 2:
        return request.token_accounts.map(({ token, account_list }) => {
          const accounts = distinct(account_list);
          if (accounts.length > this.policy.maxAccountsPerToken) return '1008007';
          if (request.operator_type === 2 || tpns) {
            this.rows = this.rows.filter((r) => r.token !== token || accounts.some((a) => same(r, token, a)));
          }
          // The device registered again: a quarantine of the token is lifted.
          for (const r of this.rows) if (r.token === token) r.q = false;
          for (const a of accounts) bindOne(token, a);
          return '0';
        });
      case 3:
        return request.token_accounts.map(({ token, account_list }) => {
          const before = this.rows.length;
          this.rows = this.rows.filter((r) => !account_list.some((a) => same(r, token, a)));
          return this.rows.length < before ? '0' : '10110008';
        });
      case 4:
        return request.token_list.map((token) => {
          const before = this.rows.length;
          this.rows = this.rows.filter((r) => r.token !== token);
          return this.rows.length < before ? '0' : '10110008';
        });
      case 5:
        return request.account_list.map((a) => {
          const before = this.rows.length;
          this.rows = this.rows.filter((r) => !(r.account === a.account && r.type === (a.account_type ?? 0)));
          return this.rows.length < before ? '0' : '10110008';
        });
    }
  }

  /** Provider feedback saying each token is dead: the result code of each. */
  feedback(tokens: string[]): string[] {
    return tokens.map((token) => {
      const rows = this.rows.filter((r) => r.token === token);
      for (const r of rows) r.q = true;
      return rows.length > 0 ? '0' : '10110008';
    });
  }

  /** Tokens reported seen: nothing an answer shows changes; the result code of each. */
  seen(tokens: string[]): string[] {
    return tokens.map((token) => (this.rows.some((r) => r.token === token) ? '0' : '10110008'));
  }

  /** Restore: the HTTP status of the answer. */
  restore(token: string): number {
    const rows = this.rows.filter((r) => r.token === token);
    for (const r of rows) r.q = false;
    return rows.length > 0 ? 200 : 404;
  }

  /** The sweeper, after quarantine_days: quarantined rows are gone. */
  purge(): void {
    this.rows = this.rows.filter((r) => !r.q);
  }

  /** What query op 1 answers for an account: its active tokens, oldest bind first. */
  tokensOf(account: string, type: number): string[] {
    return this.rows
      .filter((r) => r.account === account && r.type === type && !r.q)
      .sort((a, b) => a.t - b.t)
      .map((r) => r.token);
  }

  /** What query op 2 answers for a token: its accounts, oldest bind first; none while it is quarantined. */
  accountsOf(token: string): { account: string; account_type: number }[] {
    return this.rows
      .filter((r) => r.token === token && !r.q)
      .sort((a, b) => a.t - b.t)
      .map((r) => ({ account: r.account, account_type: r.type }));
  }
}
