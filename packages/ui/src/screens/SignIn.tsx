import { useState, type FormEvent } from 'react';
import { whoami } from '../api.js';
import { Problem } from '../components/ui.js';
import type { WhoAmI } from '../types.js';

/** The token is checked with GET /v1/whoami and kept in sessionStorage (this tab only). */
export function SignIn({
  onSignedIn,
  notice,
}: {
  onSignedIn: (token: string, who: WhoAmI) => void;
  notice: string | null;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const trimmed = token.trim();
      onSignedIn(trimmed, await whoami(trimmed));
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };
  return (
    <div className="signin">
      <form className="card signin-card" onSubmit={(e) => void submit(e)}>
        <h1>
          <img src="/favicon.svg" alt="" width={28} height={28} /> Herald
        </h1>
        <p className="muted">Sign in with an API token. It stays in this browser tab only (sessionStorage).</p>
        {notice ? <div className="notice">{notice}</div> : null}
        <label className="field">
          Token
          <input
            type="password"
            autoComplete="off"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            placeholder="hrd_…"
            autoFocus
            aria-label="Token"
          />
        </label>
        <Problem error={error} title="Sign-in refused" />
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
