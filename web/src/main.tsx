import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, onUnauthenticated, storeToken } from './api.js';
import { type Route, useRoute } from './router.js';
import { AuditScreen } from './screens/audit.js';
import { DeploymentScreen } from './screens/deployment.js';
import { DriftScreen } from './screens/drift.js';
import { EnvironmentsBoard } from './screens/environments.js';
import { ExperimentsScreen } from './screens/experiments.js';
import { JobsScreen } from './screens/jobs.js';
import { ModelsScreen } from './screens/models.js';
import { PromotionsScreen } from './screens/promotions.js';
import { SignIn } from './screens/sign-in.js';
import { SessionContext } from './session.js';
import type { Caller, WhoAmI } from './types.js';
import { ErrorNote, Loading } from './ui.js';
import './styles.css';

const SECTIONS = [
  { path: '', label: 'Environments' },
  { path: 'models', label: 'Models' },
  { path: 'promotions', label: 'Promotions' },
  { path: 'jobs', label: 'Jobs' },
  { path: 'drift', label: 'Drift' },
  { path: 'experiments', label: 'Experiments' },
  { path: 'audit', label: 'Audit' },
] as const;

function Screen({ route }: { route: Route }) {
  const [section = '', ...rest] = route.parts;
  switch (section) {
    case '':
      return <EnvironmentsBoard />;
    case 'models':
      return <ModelsScreen parts={rest} params={route.params} />;
    case 'promotions':
      return <PromotionsScreen parts={rest} />;
    case 'deployments':
      return <DeploymentScreen environment={rest[0] ?? ''} model={rest[1] ?? ''} />;
    case 'jobs':
      return <JobsScreen parts={rest} />;
    case 'drift':
      return <DriftScreen params={route.params} />;
    case 'experiments':
    case 'compare-runs':
    case 'runs':
      return <ExperimentsScreen parts={route.parts} params={route.params} />;
    case 'audit':
      return <AuditScreen params={route.params} />;
    default:
      return (
        <main id="main">
          <h1>Not found</h1>
          <p>
            The console has no page <code>#{route.parts.join('/')}</code>. <a href="#/">Environments</a>
          </p>
        </main>
      );
  }
}

/** The session whoami answers: a name and a role, or none when the server needs a token not sent. */
function signedIn(caller: Caller): WhoAmI | null {
  const { name, role, auth } = caller;
  return name === null || role === null ? null : { name, role, auth };
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState<WhoAmI | null>(null);
  const [needsSignIn, setNeedsSignIn] = useState(false);
  const [error, setError] = useState<Error | undefined>();

  const identify = async () => {
    try {
      const who = signedIn(await call<Caller>('GET', '/api/v1/whoami'));
      if (who === null) {
        setNeedsSignIn(true);
        return;
      }
      setSession(who);
      setNeedsSignIn(false);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        storeToken(null);
        setSession(null);
        setNeedsSignIn(true);
      } else setError(e as Error);
    }
  };
  useEffect(() => {
    void identify();
    return onUnauthenticated(() => {
      storeToken(null);
      setSession(null);
      setNeedsSignIn(true);
    });
  }, []);

  const first = route.parts[0] ?? '';
  const section =
    first === 'deployments' ? '' : first === 'compare-runs' || first === 'runs' ? 'experiments' : first;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          Slipway
        </a>
        {session ? (
          <nav aria-label="Sections">
            {SECTIONS.map((s) => (
              <a key={s.path} href={`#/${s.path}`} aria-current={s.path === section ? 'page' : undefined}>
                {s.label}
              </a>
            ))}
          </nav>
        ) : null}
        {session ? (
          <div class="who">
            <span>
              {session.name} <span class="muted">({session.role})</span>
            </span>
            {session.auth ? (
              <button
                type="button"
                class="link"
                onClick={() => {
                  storeToken(null);
                  setSession(null);
                  setNeedsSignIn(true);
                }}
              >
                Sign out
              </button>
            ) : (
              <span class="muted">local mode</span>
            )}
          </div>
        ) : null}
      </header>
      {session ? (
        <SessionContext.Provider value={session}>
          <Screen route={route} />
        </SessionContext.Provider>
      ) : needsSignIn ? (
        <SignIn
          onToken={async (token) => {
            storeToken(token);
            const who = signedIn(
              await call<Caller>('GET', '/api/v1/whoami').catch((e: Error) => {
                storeToken(null);
                throw e;
              }),
            );
            if (who === null) throw new Error('Enter a token.');
            setSession(who);
            setNeedsSignIn(false);
          }}
        />
      ) : (
        <main id="main">
          <ErrorNote error={error} />
          {error ? null : <Loading />}
        </main>
      )}
    </>
  );
}

render(<App />, document.getElementById('app')!);
