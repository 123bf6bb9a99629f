/** The apps list with counts, and creating an app (its credentials shown once). */
import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, type AppView, api } from './api.ts';
import { Message, Secrets } from './ui.tsx';

export function AppsView({ onOpen, onSignedOut }: { onOpen: (accessId: string) => void; onSignedOut: () => void }) {
  const [apps, setApps] = useState<AppView[] | null>(null);
  const [error, setError] = useState('');
  const [name, setName] = useState('');
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
      setCreated(await api<AppView>('POST', '/apps', { name }));
      setName('');
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
                <td>{app.name}</td>
                <td>
                  <code>{app.access_id}</code>
                </td>
                <td>{app.bindings}</td>
                <td>{app.tokens}</td>
                <td>{app.accounts}</td>
                <td>
                  {app.max_tokens_per_account} / {app.max_accounts_per_token}
                </td>
                <td>{app.binding_rules}</td>
                <td>
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
        <button type="submit">Create app</button>
      </form>
    </main>
  );
}
