import { Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { Api, describeError, loadToken, saveToken, whoami } from './api.js';
import { describeScopes, isSystemAdmin } from './access.js';
import { Confirm, Loading } from './components/ui.js';
import { lazyScreen } from './lazy-screen.js';
import { Link, navigate, useLocation } from './router.js';
import { SessionContext, useSession, type Session } from './session.js';
import type { WhoAmI } from './types.js';
import { ThemeToggle } from './components/ThemeToggle.js';
import { OfflineBanner } from './components/OfflineBanner.js';
import { OfflineError, useConnection } from './connection.js';
import { SignIn } from './screens/SignIn.js';

// Each screen is its own chunk: the first page loads only what it shows.
const Namespaces = lazyScreen(() => import('./screens/Namespaces.js'), 'Namespaces');
const NamespaceScreen = lazyScreen(() => import('./screens/Namespace.js'), 'NamespaceScreen');
const Audit = lazyScreen(() => import('./screens/Audit.js'), 'Audit');
const ChangeRequests = lazyScreen(() => import('./screens/ChangeRequests.js'), 'ChangeRequests');

export function App() {
  const [token, setToken] = useState<string | null>(() => loadToken());
  const [who, setWho] = useState<WhoAmI | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((why?: string) => {
    saveToken(null);
    setToken(null);
    setWho(null);
    setNotice(why ?? null);
  }, []);

  const { reconnects } = useConnection();
  // A token kept from earlier in this tab: check it is still valid (again on reconnect, when the
  // server could not be asked: an unreachable server is no reason to sign out).
  useEffect(() => {
    if (!token || who) return;
    whoami(token).then(setWho, (error: unknown) => {
      if (!(error instanceof OfflineError)) signOut(`Signed out: ${describeError(error)}`);
    });
  }, [token, who, signOut, reconnects]);

  const session = useMemo<Session | null>(
    () =>
      token && who
        ? { api: new Api(token, (error) => signOut(`Signed out: ${error.detail}`)), who, signOut: () => signOut() }
        : null,
    [token, who, signOut],
  );

  if (!token || !who || !session) {
    if (token && !who)
      return (
        <>
          <OfflineBanner />
          <div className="center muted">Checking the token…</div>
        </>
      );
    return (
      <SignIn
        notice={notice}
        onSignedIn={(newToken, identity) => {
          saveToken(newToken);
          setToken(newToken);
          setWho(identity);
          setNotice(null);
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell() {
  const { path } = useLocation();
  const { online } = useConnection();
  return (
    <div className={online ? 'shell' : 'shell offline'}>
      <Header />
      <OfflineBanner />
      <main data-stale={online ? undefined : 'true'}>
        <Suspense fallback={<Loading />}>{route(path)}</Suspense>
      </main>
    </div>
  );
}

function route(path: string) {
  const ns = /^\/ns\/([^/]+)(?:\/([a-z]+))?\/?$/u.exec(path);
  if (ns) return <NamespaceScreen key={ns[1]} ns={decodeURIComponent(ns[1] ?? '')} tab={ns[2] ?? 'entries'} />;
  if (path === '/audit') return <Audit />;
  if (path === '/change-requests') return <ChangeRequests />;
  if (path === '/' || path === '/namespaces') return <Namespaces />;
  return (
    <div className="card">
      <h2>Not found</h2>
      <p>
        Nothing at <code>{path}</code>. <Link to="/">Namespaces</Link>
      </p>
    </div>
  );
}

function Header() {
  const { who, api, signOut } = useSession();
  const [freeze, setFreeze] = useState<null | 'freeze' | 'unfreeze'>(null);
  const [frozen, setFrozen] = useState<string | null>(null);
  const { path } = useLocation();
  const admin = isSystemAdmin(who.scopes);
  return (
    <header className="top">
      <Link to="/" className="brand">
        <img src="/favicon.svg" alt="" width={22} height={22} /> <span className="brand-name">Herald</span>
      </Link>
      <nav>
        <Link to="/" className={path === '/' || path.startsWith('/ns/') ? 'active' : ''}>
          Namespaces
        </Link>
        <Link to="/change-requests" className={path === '/change-requests' ? 'active' : ''}>
          Change requests
        </Link>
        <Link to="/audit" className={path === '/audit' ? 'active' : ''}>
          Audit log
        </Link>
      </nav>
      <div className="spacer" />
      {frozen ? <span className="muted small">{frozen}</span> : null}
      {admin ? (
        <>
          <button className="danger small-button" onClick={() => setFreeze('freeze')}>
            <span className="long">Freeze all rollouts</span>
            <span className="short">Freeze all</span>
          </button>
          <button className="small-button" onClick={() => setFreeze('unfreeze')}>
            Unfreeze
          </button>
        </>
      ) : null}
      <span className="who" title={describeScopes(who.scopes)} data-testid="whoami">
        {who.name || who.tokenId}
        <span className="sep"> · </span>
        <span className="muted">{describeScopes(who.scopes)}</span>
      </span>
      <ThemeToggle />
      <button
        className="small-button"
        onClick={() => {
          signOut();
          navigate('/');
        }}
      >
        Sign out
      </button>
      {freeze ? (
        <Confirm
          title={freeze === 'freeze' ? 'Freeze every rollout?' : 'Unfreeze every rollout?'}
          confirmLabel={freeze === 'freeze' ? 'Freeze all' : 'Unfreeze all'}
          danger={freeze === 'freeze'}
          withReason
          onClose={() => setFreeze(null)}
          onConfirm={async (reason) => {
            const result = await api.post<{ frozen: boolean; rollouts: string[] }>(
              `/v1/rollouts/${freeze}`,
              reason ? { reason } : {},
            );
            setFrozen(result.frozen ? `Frozen (${result.rollouts.length} rollout(s))` : 'Rollouts unfrozen');
          }}
        >
          {freeze === 'freeze'
            ? 'Every active rollout halts at once, and new ones start frozen, until unfrozen.'
            : 'Frozen rollouts go back to where they were (running or paused).'}
        </Confirm>
      ) : null}
    </header>
  );
}
