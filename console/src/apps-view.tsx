/** The apps list with counts, and creating an app (its credentials shown once). */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, type AppView, api } from './api.ts';
import { Message, Secrets } from './ui.tsx';

export function AppsView({ onOpen, onSignedOut }: { onOpen: (accessId: string) => void; onSignedOut: () => void }) {
  const [apps, setApps] = useState<AppView[] | null>(null);
  const [error, setError] = useState('');
  const [name, setName] = useState('');
  const [rules, setRules] = useState<'append' | 'tpns'>('append');
  const [keepId, setKeepId] = useState('');
  const [keepKey, setKeepKey] = useState('');
  const [created, setCreated] = useState<AppView | null>(null);

  const load = async () => {
    try {
      setApps((await api<{ apps: AppView[] }>('GET', '/apps')).apps);
      setError('');
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 401) return onSignedOut();
      setError((e as Error).message);
    }
  };
  useEffect(() => void load(), []);

  const create = async (event: Event) => {
    event.preventDefault();
    try {
      const keep = keepId || keepKey ? { access_id: keepId.trim(), secret_key: keepKey.trim() } : {};
      setCreated(await api<AppView>('POST', '/apps', { name, binding_rules: rules, ...keep }));
      setName('');
      setKeepId('');
      setKeepKey('');
      setError('');
      await load();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <main>
      <h2>Apps</h2>
      {error && <Message kind="error">{error}</Message>}
      {created && (
        <Secrets
          title={`App "${created.name}" is ready`}
          items={[
            ['AccessID', created.access_id],
            ['SecretKey', created.secret_key ?? ''],
          ]}
          onDone={() => setCreated(null)}
        />
      )}
      {apps === null && !error && <Message kind="info">Loading…</Message>}
      {apps !== null && apps.length === 0 && <Message kind="info">No apps yet. Create the first one below.</Message>}
      {apps !== null && apps.length > 0 && (
        <table>
          <caption>All apps, with their bindings</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">AccessID</th>
              <th scope="col">Bindings</th>
              <th scope="col">Tokens</th>
              <th scope="col">Accounts</th>
              <th scope="col">Caps (tokens/account, accounts/token)</th>
              <th scope="col">Binding rules</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {apps.map((app) => (
              <tr key={app.access_id}>
                <td data-label="Name">{app.name}</td>
                <td data-label="AccessID">
                  <code>{app.access_id}</code>
                </td>
                <td data-label="Bindings">{app.bindings}</td>
                <td data-label="Tokens">{app.tokens}</td>
                <td data-label="Accounts">{app.accounts}</td>
                <td data-label="Caps">
                  {app.max_tokens_per_account} / {app.max_accounts_per_token}
                </td>
                <td data-label="Binding rules">{app.binding_rules}</td>
                <td data-label="">
                  <button type="button" onClick={() => onOpen(app.access_id)} aria-label={`Open ${app.name}`}>
                    Open
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={create} class="inline">
        <h3>Create an app</h3>
        <label>
          Name
          <input
            name="name"
            value={name}
            required
            maxLength={100}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Binding rules
          <select value={rules} onChange={(e) => setRules((e.target as HTMLSelectElement).value as 'append' | 'tpns')}>
            <option value="append">append: op 1 adds accounts to a token</option>
            <option value="tpns">tpns: TPNS since 2020-10-26 (op 1 replaces, one account per type)</option>
          </select>
        </label>
        <fieldset class="keep">
          <legend>Moving from TPNS? Keep its credentials, so clients change nothing (optional)</legend>
          <label>
            TPNS AccessID
            <input
              name="access_id"
              value={keepId}
              inputMode="numeric"
              pattern="[0-9]{1,20}"
              maxLength={20}
              required={keepKey !== ''}
              onInput={(e) => setKeepId((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            TPNS SecretKey
            <input
              name="secret_key"
              value={keepKey}
              pattern="[0-9a-f]{32}"
              maxLength={32}
              autoComplete="off"
              required={keepId !== ''}
              onInput={(e) => setKeepKey((e.target as HTMLInputElement).value)}
            />
          </label>
        </fieldset>
        <button type="submit">Create app</button>
      </form>
    </main>
  );
}
