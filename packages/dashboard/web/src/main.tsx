import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, storedKey, storeKey } from './api.js';
import { BatchList } from './batch-list.js';
import { BatchPage } from './batch-page.js';
import { useRoute } from './router.js';
import { StartBatch } from './start-batch.js';
import './style.css';

type Session = 'checking' | 'signed-out' | 'open' | 'signed-in';

/** Does the server take this key (or no key at all, when it has none configured)? */
async function accepted(): Promise<boolean> {
  try {
    await getJson('/v1/batches?limit=1');
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    throw error;
  }
}

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const key = String(new FormData(event.currentTarget as HTMLFormElement).get('api_key') ?? '').trim();
    if (!key) return setError('Enter your API key.');
    setBusy(true);
    storeKey(key);
    try {
      if (await accepted()) return onSignedIn();
      storeKey(null);
      setError('That API key was refused.');
    } catch (failure) {
      storeKey(null);
      setError(`Could not reach Sluice: ${(failure as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Sluice</h1>
      <form onSubmit={(event) => void submit(event)}>
        <label for="api_key">API key</label>
        <input id="api_key" name="api_key" type="password" autocomplete="current-password" required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <p class="hint">The key is kept for this browser tab only.</p>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session>('checking');
  const route = useRoute();
  useEffect(() => {
    accepted().then(
      (ok) => setSession(ok ? (storedKey() ? 'signed-in' : 'open') : 'signed-out'),
      () => setSession('signed-out'),
    );
  }, []);
  if (session === 'checking') return <p class="loading">Loading…</p>;
  if (session === 'signed-out') return <SignIn onSignedIn={() => setSession('signed-in')} />;
  const signOut = () => {
    storeKey(null);
    setSession('signed-out');
  };
  return (
    <>
      <header class="top">
        <a href="#/" class="brand">
          Sluice
        </a>
        <nav aria-label="Main">
          <a href="#/">Batches</a>
          <a href="#/new">Start a batch</a>
          {session === 'signed-in' && (
            <button type="button" class="link" onClick={signOut}>
              Sign out
            </button>
          )}
        </nav>
      </header>
      <main>
        {route.page === 'list' && <BatchList />}
        {route.page === 'batch' && <BatchPage id={route.id} />}
        {route.page === 'new' && <StartBatch />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
