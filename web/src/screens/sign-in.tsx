import { useState } from 'preact/hooks';
import { ErrorNote } from '../ui.js';

/**
 * Sign-in with an API token (`slipway tokens create`). The token is kept in this tab's sessionStorage and
 * sent as `Authorization: Bearer`; closing the tab forgets it.
 */
export function SignIn({ onToken }: { onToken: (token: string) => Promise<void> }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" tabIndex={-1} class="narrow">
      <h1>Sign in</h1>
      <p>
        This server needs an API token. An admin makes one with{' '}
        <code>slipway tokens create NAME --role ROLE</code>. It stays in this tab only.
      </p>
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await onToken(token.trim());
          } catch (e) {
            setError(e as Error);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          placeholder="slw_…"
          required
        />
        <button type="submit" class="primary" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
      <ErrorNote error={error} />
    </main>
  );
}
