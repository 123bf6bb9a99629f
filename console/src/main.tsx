/** The bindery admin console: sign in with the admin token, then apps, one app, and look-ups. */
import { render } from 'preact';
import { useState } from 'preact/hooks';
import { ApiFailure, api, savedToken, saveToken } from './api.ts';
import { AppDetail } from './app-view.tsx';
import { AppsView } from './apps-view.tsx';
import { Message } from './ui.tsx';

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await api('GET', '/apps', undefined, token);
      saveToken(token);
      onSignedIn();
    } catch (e) {
      setError(
        e instanceof ApiFailure && e.status === 401
          ? 'That admin token is not right. It is the BINDERY_ADMIN_TOKEN the server was started with.'
          : (e as Error).message,
      );
    }
  };
  return (
    <main>
      <form onSubmit={submit} class="signin">
        <h2>Sign in</h2>
        <label>
          Admin token
          <input
            name="token"
            type="password"
            autoComplete="current-password"
            required
            autofocus
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          />
        </label>
        {error && <Message kind="error">{error}</Message>}
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

function Console() {
  const [signedIn, setSignedIn] = useState(savedToken() !== null);
  const [open, setOpen] = useState<string | null>(null);
  const signOut = () => {
    saveToken(null);
    setOpen(null);
    setSignedIn(false);
  };
  return (
    <>
      <header>
        <h1>bindery console</h1>
        {signedIn && (
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      {!signedIn ? (
        <SignIn onSignedIn={() => setSignedIn(true)} />
      ) : open ? (
        <AppDetail accessId={open} onBack={() => setOpen(null)} />
      ) : (
        <AppsView onOpen={setOpen} onSignedOut={signOut} />
      )}
    </>
  );
}

render(<Console />, document.getElementById('console')!);
