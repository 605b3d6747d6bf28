import { Suspense, useEffect } from 'react';
import { nsPath } from '../api.js';
import { allows, notAllowed } from '../access.js';
import { Loading, Problem, Tabs } from '../components/ui.js';
import { recordFleet } from '../fleet-samples.js';
import { usePoll } from '../hooks.js';
import { Link, navigate, nsRoute } from '../router.js';
import { useSession } from '../session.js';
import type { Fleet, Namespace } from '../types.js';
import { lazyScreen } from '../lazy-screen.js';

const Entries = lazyScreen(() => import('./Entries.js'), 'Entries');
const History = lazyScreen(() => import('./History.js'), 'History');
const Rollout = lazyScreen(() => import('./Rollout.js'), 'Rollout');
const FleetScreen = lazyScreen(() => import('./Fleet.js'), 'FleetScreen');
const Flags = lazyScreen(() => import('./Flags.js'), 'Flags');

const tabs: Array<[string, string]> = [
  ['entries', 'Entries'],
  ['flags', 'Flags'],
  ['history', 'History'],
  ['rollout', 'Releases & rollout'],
  ['fleet', 'Fleet'],
];

const fleetSizes = new Map<string, number>();

/** One namespace: its tabs, and the fleet sampled every second for as long as it is open (convergence chart). */
export function NamespaceScreen({ ns, tab }: { ns: string; tab: string }) {
  const { api, who } = useSession();
  const info = usePoll((signal) => api.get<Namespace>(nsPath(ns), undefined, signal), 5000, [api, ns]);
  const fleet = usePoll(
    async (signal) => {
      const answer = await api.get<Fleet>(`/v1/fleet/${encodeURIComponent(ns)}`, undefined, signal);
      recordFleet(ns, answer);
      fleetSizes.set(ns, answer.instances.length);
      return answer;
    },
    // Every second for a small fleet (the chart's samples); a big one is heavy to fetch that often.
    (fleetSizes.get(ns) ?? 0) > 2000 ? 5000 : 1000,
    [api, ns],
  );
  useEffect(() => {
    if (!tabs.some(([id]) => id === tab)) navigate(nsRoute(ns), true);
  }, [ns, tab]);
  const canRead = allows(who.scopes, 'read', ns);
  return (
    <div className="page">
      <div className="page-head">
        <h2>
          <Link to="/" className="muted">
            Namespaces
          </Link>{' '}
          / <span data-testid="ns-title">{ns}</span>
        </h2>
        {info.data ? (
          <span className="muted small">
            revision {info.data.revision} · {info.data.entryCount} entries{info.data.hasSchema ? ' · JSON Schema' : ''}
            {info.data.description ? ` · ${info.data.description}` : ''}
          </span>
        ) : null}
      </div>
      {!canRead ? <div className="problem problem-forbidden">{notAllowed(who.scopes, 'read', ns)}</div> : null}
      <Problem error={info.error} />
      {info.loading && !info.data ? <Loading /> : null}
      <Tabs tabs={tabs} current={tab} onSelect={(id) => navigate(nsRoute(ns, id))} />
      <Suspense fallback={<Loading />}>
        <div className="tab-body">
          {tab === 'entries' ? <Entries ns={ns} namespace={info.data} onChanged={info.refresh} /> : null}
          {tab === 'flags' ? <Flags ns={ns} onChanged={info.refresh} /> : null}
          {tab === 'history' ? <History ns={ns} onChanged={info.refresh} /> : null}
          {tab === 'rollout' ? <Rollout ns={ns} fleet={fleet.data} /> : null}
          {tab === 'fleet' ? <FleetScreen ns={ns} fleet={fleet.data} error={fleet.error} /> : null}
        </div>
      </Suspense>
    </div>
  );
}
