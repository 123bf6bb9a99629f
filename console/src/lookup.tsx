/** Find an account (with its type) or a token: its bindings, with unbind, and its history. */
import { useState } from 'preact/hooks';
import { api, type BindingRow, type HistoryRow } from './api.ts';
import { Confirm, Message, when } from './ui.tsx';

type Found = { kind: 'account' | 'token'; label: string; bindings: BindingRow[]; history: HistoryRow[] };

export function Lookup({ accessId, onChanged }: { accessId: string; onChanged: () => void }) {
  const [kind, setKind] = useState<'account' | 'token'>('account');
  const [account, setAccount] = useState('');
  const [accountType, setAccountType] = useState('0');
  const [token, setToken] = useState('');
  const [found, setFound] = useState<Found | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [pending, setPending] = useState<BindingRow | null>(null);
  const base = `/apps/${encodeURIComponent(accessId)}`;

  const search = async (event?: Event) => {
    event?.preventDefault();
    setError('');
    try {
      if (kind === 'account') {
        const type = Number(accountType || '0');
        const [bindings, history] = await Promise.all([
          api<{ tokens: Omit<BindingRow, 'account' | 'account_type'>[] }>(
            'GET',
            `${base}/accounts/${encodeURIComponent(account)}/tokens?account_type=${type}`,
          ),
          api<{ entries: HistoryRow[] }>(
            'GET',
            `${base}/history?account=${encodeURIComponent(account)}&account_type=${type}&limit=100`,
          ),
        ]);
        setFound({
          kind,
          label: `account ${account} (type ${type})`,
          bindings: bindings.tokens.map((t) => ({ ...t, account, account_type: type })),
          history: history.entries,
        });
      } else {
        const [bindings, history] = await Promise.all([
          api<{ accounts: Omit<BindingRow, 'token'>[] }>('GET', `${base}/tokens/${encodeURIComponent(token)}/accounts`),
          api<{ entries: HistoryRow[] }>('GET', `${base}/history?token=${encodeURIComponent(token)}&limit=100`),
        ]);
        setFound({
          kind,
          label: `token ${token}`,
          bindings: bindings.accounts.map((a) => ({ ...a, token })),
          history: history.entries,
        });
      }
    } catch (e) {
      setFound(null);
      setError((e as Error).message);
    }
  };

  const restore = async (row: BindingRow) => {
    setError('');
    try {
      await api('POST', `${base}/tokens/${encodeURIComponent(row.token)}/restore`, {});
      setNotice(`Restored ${row.token}: it is answered in queries again.`);
      onChanged();
      await search();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const unbind = async (row: BindingRow) => {
    setPending(null);
    try {
      await api('POST', `${base}/unbind`, { token: row.token, account: row.account, account_type: row.account_type });
      setNotice(`Unbound ${row.account} from ${row.token}.`);
      onChanged();
      await search();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section aria-labelledby="lookup-title">
      <h3 id="lookup-title">Find an account or a device</h3>
      <form onSubmit={search} class="inline">
        <fieldset>
          <legend>Look up</legend>
          <label>
            <input type="radio" name="kind" checked={kind === 'account'} onChange={() => setKind('account')} /> By
            account
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === 'token'} onChange={() => setKind('token')} /> By token
          </label>
        </fieldset>
        {kind === 'account' ? (
          <>
            <label>
              Account
              <input
                name="account"
                value={account}
                required
                onInput={(e) => setAccount((e.target as HTMLInputElement).value)}
              />
            </label>
            <label>
              Account type
              <input
                name="account_type"
                type="number"
                min="0"
                value={accountType}
                onInput={(e) => setAccountType((e.target as HTMLInputElement).value)}
              />
            </label>
          </>
        ) : (
          <label>
            Token
            <input
              name="token"
              value={token}
              required
              onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        <button type="submit">Search</button>
      </form>
      {error && <Message kind="error">{error}</Message>}
      {notice && <Message kind="info">{notice}</Message>}
      {found && (
        <>
          <h4>Bindings of {found.label}</h4>
          {found.bindings.length === 0 ? (
            <Message kind="info">No bindings for this {found.kind}.</Message>
          ) : (
            <table>
              <caption>Oldest bind first</caption>
              <thead>
                <tr>
                  <th scope="col">Token</th>
                  <th scope="col">Account</th>
                  <th scope="col">Type</th>
                  <th scope="col">Platform</th>
                  <th scope="col">Bound at</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {found.bindings.map((b) => (
                  <tr key={`${b.token}|${b.account}|${b.account_type}`}>
                    <td data-label="Token">
                      <code>{b.token}</code>
                    </td>
                    <td data-label="Account">{b.account}</td>
                    <td data-label="Type">{b.account_type}</td>
                    <td data-label="Platform">{b.platform ?? '—'}</td>
                    <td data-label="Bound at">
                      <time dateTime={b.bound_at}>{when(b.bound_at)}</time>
                    </td>
                    <td data-label="Last seen">
                      <time dateTime={b.last_seen_at}>{when(b.last_seen_at)}</time>
                    </td>
                    <td data-label="State">
                      <span class={`badge ${b.state}`}>{b.state}</span>
                      {b.quarantine_reason && (
                        <span class="reason">
                          {' '}
                          {b.quarantine_reason}
                          {b.quarantined_at ? `, since ${when(b.quarantined_at)}` : ''}
                        </span>
                      )}
                    </td>
                    <td data-label="">
                      {b.state === 'quarantined' && (
                        <button
                          type="button"
                          onClick={() => void restore(b)}
                          aria-label={`Restore ${b.token}: answer it in queries again`}
                        >
                          Restore
                        </button>
                      )}{' '}
                      <button
                        type="button"
                        class="danger"
                        onClick={() => setPending(b)}
                        aria-label={`Unbind ${b.account} from ${b.token}`}
                      >
                        Unbind
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h4>History of {found.label}</h4>
          {found.history.length === 0 ? (
            <Message kind="info">
              No changes recorded. Bindings made by an import write no history, and history older than the retention
              period (BINDERY_HISTORY_RETENTION_DAYS) is swept.
            </Message>
          ) : (
            <ul class="history">
              {found.history.map((h) => (
                <li key={h.id}>
                  <time dateTime={h.at}>{when(h.at)}</time> <strong>{h.cause.replace('_', ' ')}</strong>{' '}
                  <code>{h.token}</code> ↔ {h.account} (type {h.account_type})
                  {h.op_type && (
                    <span class="actor">
                      {' '}
                      by {h.op_type}
                      {h.op_id ? ` ${h.op_id}` : ''}
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      {pending && (
        <Confirm
          text={
            `Unbind account ${pending.account} from token ${pending.token}? The device stops receiving this ` +
            `account's pushes.`
          }
          action="Unbind"
          onConfirm={() => void unbind(pending)}
          onCancel={() => setPending(null)}
        />
      )}
    </section>
  );
}
