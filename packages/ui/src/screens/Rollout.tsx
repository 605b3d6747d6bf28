// The live rollout screen is one cohesive thing (waves, gates, bake countdown and the controls that
// act on them share one polled state), which is why it is longer than the house's ~500 lines.
import { useEffect, useState } from 'react';
import { ApiError, nsPath } from '../api.js';
import { allows, notAllowed } from '../access.js';
import { Bar, Confirm, Loading, Problem, StateBadge } from '../components/ui.js';
import { shareOn } from '../fleet-samples.js';
import { ago, duration, percent, time, who as whoOf } from '../format.js';
import { useNow, usePoll } from '../hooks.js';
import { useSession } from '../session.js';
import {
  activeStates,
  type Fleet,
  type GateSummary,
  type PolicyDocument,
  type Release,
  type RolloutRecord,
  type RolloutStatus,
  type WaveSummary,
} from '../types.js';
import { ConvergenceChart } from '../components/ConvergenceChart.js';
import { CodeEditor } from '../components/LazyCodeEditor.js';
import { TraceView } from './Trace.js';

type Command = 'pause' | 'resume' | 'abort' | 'rollback';

interface CheckSampleView {
  at: number;
  value: number | null;
  error?: string;
  outcome?: string;
}

/** The metric/HTTP checks, why a wave failed and the trap a rollback leaves (issue 15), as the server's RolloutStatus adds them. */
type GatedStatus = RolloutStatus & {
  checks?: Array<{
    name: string;
    kind: string;
    target: string;
    threshold: string;
    status: string;
    message: string;
    samples: CheckSampleView[];
  }>;
  failure?: {
    at: number;
    waveName: string;
    gate: string;
    rejectReasons: Array<{ reason: string; count: number; instances: string[] }>;
    unhealthy: Array<{ reason: string; count: number; instances: string[] }>;
    check?: { name: string; kind: string; target: string; sample: CheckSampleView };
    checks: Array<{ name: string; samples: CheckSampleView[] }>;
  } | null;
  trap?: { message: string; command: string } | null;
};

function sampleText(s: CheckSampleView): string {
  if (s.error !== undefined) return `error (${s.error}) at ${time(s.at)}`;
  return `${s.value === null ? 'no data' : String(Number(s.value.toPrecision(6)))} at ${time(s.at)}`;
}

/** The checks of the current wave, why a wave failed (kept after the fleet moved on), and the way out of a rollback's trap. */
function SignalsAndTrap({ status, active }: { status: GatedStatus; active: boolean }) {
  const checks = active ? (status.checks ?? []) : [];
  const failure = status.failure ?? null;
  const trap = status.trap ?? null;
  if (checks.length === 0 && !failure && !trap) return null;
  return (
    <div className="signals">
      {checks.length > 0 ? (
        <ul className="checks small" data-testid="rollout-checks">
          {checks.map((c) => (
            <li key={`${c.kind}:${c.name}`} data-status={c.status}>
              <strong>{c.name}</strong> ({c.kind}, {c.threshold}): {c.status} · <code>{c.target}</code>
              {c.samples.length > 0 ? <> · {c.samples.slice(-3).map(sampleText).join('; ')}</> : null}
            </li>
          ))}
        </ul>
      ) : null}
      {failure ? (
        <div className="problem small" data-testid="rollout-failure">
          Wave <strong>{failure.waveName}</strong> failed on {failure.gate} at {time(failure.at)}.
          {failure.rejectReasons.map((g) => (
            <div key={`r:${g.reason}`}>
              Rejected by {g.count}: {g.reason} (e.g. {g.instances.join(', ')})
            </div>
          ))}
          {failure.unhealthy.map((g) => (
            <div key={`u:${g.reason}`}>
              Unhealthy {g.count}: {g.reason} (e.g. {g.instances.join(', ')})
            </div>
          ))}
          {failure.check ? (
            <div>
              {failure.check.kind} check <strong>{failure.check.name}</strong>: <code>{failure.check.target}</code>
              <br />
              Values seen:{' '}
              {(failure.checks.find((c) => c.name === failure.check?.name)?.samples ?? [failure.check.sample])
                .map(sampleText)
                .join('; ')}
            </div>
          ) : null}
        </div>
      ) : null}
      {trap ? (
        <div className="notice" data-testid="rollout-trap">
          {trap.message}. The next release would ship it again (it is refused). The way out, one commit back to the
          stable content: <code>{trap.command}</code>
        </div>
      ) : null}
    </div>
  );
}

const commandText: Record<Command, { title: string; body: string; danger: boolean }> = {
  pause: {
    title: 'Pause the rollout?',
    body: 'The current wave stays where it is; bake time stops counting.',
    danger: false,
  },
  resume: {
    title: 'Resume the rollout?',
    body: 'The current wave goes on baking and the gates are checked again.',
    danger: false,
  },
  abort: {
    title: 'Abort the rollout?',
    body: 'A new release with the stable content goes to everyone; the candidate is dropped.',
    danger: true,
  },
  rollback: {
    title: 'Roll back the rollout?',
    body: 'A new release with the stable content goes to everyone, as an automatic rollback would.',
    danger: true,
  },
};

/**
 * Live: the rollout is re-read every second while one is active (every 5 s otherwise), and a
 * long poll on GET /v1/route/:ns wakes the screen as soon as the routing changes (a wave advances,
 * a rollback, a new release).
 */
export function Rollout({ ns, fleet }: { ns: string; fleet: Fleet | undefined }) {
  const { api, who } = useSession();
  const [routeVersion, setRouteVersion] = useState(0);
  const [active, setActive] = useState(false);
  const rollout = usePoll(
    (signal) => api.get<{ rollout: RolloutStatus | null }>(`${nsPath(ns)}/rollout`, undefined, signal),
    active ? 1000 : 5000,
    [api, ns, routeVersion],
  );
  const releases = usePoll(
    (signal) => api.get<{ items: Release[] }>(`${nsPath(ns)}/releases`, { limit: 100 }, signal),
    active ? 2000 : 5000,
    [api, ns, routeVersion],
  );
  const history = usePoll(
    (signal) => api.get<{ items: RolloutRecord[] }>(`${nsPath(ns)}/rollouts`, { limit: 5 }, signal),
    active ? 2000 : 10000,
    [api, ns, routeVersion],
  );
  const status = rollout.data?.rollout ?? null;
  const isActive = status !== null && activeStates.includes(status.state);
  useEffect(() => setActive(isActive), [isActive]);
  useRouteWatch(ns, () => setRouteVersion((n) => n + 1));

  const canRelease = allows(who.scopes, 'release', ns);
  return (
    <div className="rollout-screen">
      <div className="grid-2">
        <div>
          <ReleaseCard
            ns={ns}
            canRelease={canRelease}
            onReleased={() => setRouteVersion((n) => n + 1)}
            rolloutActive={isActive}
          />
          <PolicyCard ns={ns} />
        </div>
        <div>
          <div className="card">
            <h3>Current rollout</h3>
            <Problem error={rollout.error} />
            {rollout.loading && !rollout.data ? <Loading /> : null}
            {rollout.data && !status ? (
              <p className="muted">No rollout yet. With a staged policy, a release starts one.</p>
            ) : null}
            {status ? (
              <RolloutView status={status} canRelease={canRelease} onCommand={() => setRouteVersion((n) => n + 1)} />
            ) : null}
            {!canRelease ? (
              <p className="muted small">{notAllowed(who.scopes, 'release', ns)} Controls are hidden.</p>
            ) : null}
          </div>
        </div>
      </div>
      <div className="grid-2">
        <div className="card">
          <h3>Releases</h3>
          <Problem error={releases.error} />
          <ReleaseList
            ns={ns}
            releases={releases.data?.items ?? []}
            fleet={fleet}
            canRelease={canRelease}
            onRolledBack={() => setRouteVersion((n) => n + 1)}
          />
        </div>
        <div className="card">
          <h3>Convergence</h3>
          <ConvergenceChart
            ns={ns}
            releases={releases.data?.items ?? []}
            height={220}
            rollout={status}
            rollouts={history.data?.items ?? []}
          />
          <h4>Recent rollouts</h4>
          <Problem error={history.error} />
          <RolloutHistory items={history.data?.items ?? []} />
        </div>
      </div>
    </div>
  );
}

/** Long-polls GET /v1/route/:ns?version=…&wait=25 and calls `onChange` whenever the routing moves. */
function useRouteWatch(ns: string, onChange: () => void): void {
  const { api } = useSession();
  const [callback] = useState(() => ({ current: onChange }));
  callback.current = onChange;
  useEffect(() => {
    const controller = new AbortController();
    const loop = async () => {
      let version: string | undefined;
      while (!controller.signal.aborted) {
        try {
          const response = await api.request<{ version?: string } | null>(
            'GET',
            `/v1/route/${encodeURIComponent(ns)}`,
            {
              query: { version, wait: 25 },
              signal: controller.signal,
            },
          );
          if (response.status === 200 && response.data) {
            if (version !== undefined) callback.current();
            version = response.data.version;
          }
        } catch (error) {
          if (controller.signal.aborted) return;
          // No release yet (404) or a hiccup: try again a little later.
          await new Promise((resolve) =>
            setTimeout(resolve, error instanceof ApiError && error.status === 404 ? 3000 : 2000),
          );
        }
      }
    };
    void loop();
    return () => controller.abort();
  }, [api, ns, callback]);
}

function RolloutView({
  status,
  canRelease,
  onCommand,
}: {
  status: RolloutStatus;
  canRelease: boolean;
  onCommand: () => void;
}) {
  const { api } = useSession();
  const now = useNow(250);
  const [fetchedAt, setFetchedAt] = useState(() => Date.now());
  const [command, setCommand] = useState<Command | null>(null);
  useEffect(() => setFetchedAt(Date.now()), [status]);
  const running = status.state === 'running';
  // The bake left, counted down between polls while the wave runs.
  const bakeLeft = running ? Math.max(0, status.bakeRemainingMs - (now - fetchedAt)) : status.bakeRemainingMs;
  const active = activeStates.includes(status.state);
  const available: Command[] = !active
    ? []
    : status.state === 'running'
      ? ['pause', 'abort', 'rollback']
      : ['resume', 'abort', 'rollback'];
  return (
    <div className="rollout" data-testid="rollout" data-state={status.state}>
      <div className="rollout-head">
        <StateBadge state={status.state} />
        <span>
          release <strong>#{status.fromSeq}</strong> → <strong>#{status.toSeq}</strong>
        </span>
        <span className="muted small">
          {status.id} · started {ago(status.startedAt, now)}
        </span>
        {status.frozenAll ? <span className="badge badge-frozen">every rollout frozen</span> : null}
      </div>
      {status.reason ? (
        <div
          className={status.state === 'rolled_back' || status.state === 'aborted' ? 'problem' : 'notice'}
          data-testid="rollout-reason"
        >
          {status.reason}
        </div>
      ) : null}
      {status.heldBy ? (
        <div className="notice" data-testid="rollout-held">
          Held by the change window {status.heldBy.describe}: the next wave starts when it ends, or once an admin
          overrides it (<code>herald windows override {status.namespace} --reason …</code>).
        </div>
      ) : null}
      <p className="small next" data-testid="rollout-next">
        {status.next.message}
      </p>
      {active ? (
        <div className="bake" data-testid="bake">
          Wave <strong>{status.waveName}</strong>: bake {duration(status.bakedMs + (running ? now - fetchedAt : 0))} of{' '}
          {duration(status.bakeMs)}
          {bakeLeft > 0 ? (
            <>
              {' '}
              · <strong>{duration(bakeLeft)}</strong> left
            </>
          ) : (
            ' · baked'
          )}
          {status.reportDeadlineAt ? (
            <span className="muted"> · reports due by {time(status.reportDeadlineAt)}</span>
          ) : null}
        </div>
      ) : null}
      <ol className="waves" data-testid="waves">
        {status.waves.map((wave) => (
          <WaveRow key={wave.index} wave={wave} finished={!active} state={status.state} />
        ))}
      </ol>
      {status.gates.length > 0 ? <Gates gates={status.gates} /> : null}
      <SignalsAndTrap status={status} active={active} />
      {canRelease && available.length > 0 ? (
        <div className="actions">
          {available.map((c) => (
            <button key={c} className={commandText[c].danger ? 'danger' : ''} onClick={() => setCommand(c)}>
              {c[0]?.toUpperCase()}
              {c.slice(1)}
            </button>
          ))}
        </div>
      ) : null}
      {command ? (
        <Confirm
          title={commandText[command].title}
          confirmLabel={command[0]?.toUpperCase() + command.slice(1)}
          danger={commandText[command].danger}
          withReason
          onClose={() => setCommand(null)}
          onConfirm={async (reason) => {
            await api.post(`${nsPath(status.namespace)}/rollout/${command}`, reason ? { reason } : {});
            onCommand();
          }}
        >
          {commandText[command].body}
        </Confirm>
      ) : null}
    </div>
  );
}

function WaveRow({ wave, finished, state }: { wave: WaveSummary; finished: boolean; state: string }) {
  const targeted = wave.targeted ?? 0;
  const match = wave.match
    ? Object.entries(wave.match)
        .map(([k, v]) => `${k}=${v.join('|')}`)
        .join(' ')
    : 'all instances';
  const failed = wave.status === 'current' && (state === 'rolled_back' || state === 'aborted');
  return (
    <li
      className={`wave wave-${wave.status} ${failed ? 'wave-failed' : ''}`}
      data-testid={`wave-${wave.name}`}
      data-status={wave.status}
    >
      <div className="wave-head">
        <span className="wave-name">{wave.name}</span>
        <span className="muted small">
          {wave.percent}% of {match} · bake {wave.bake}
        </span>
        <div className="spacer" />
        <span className={`wave-status small ${failed ? 'fail' : ''}`}>
          {failed ? 'stopped here' : wave.status === 'current' && finished ? 'last' : wave.status}
        </span>
      </div>
      {wave.status === 'current' ? (
        <>
          <Bar
            total={Math.max(targeted, 1)}
            title={`${wave.applied ?? 0} applied, ${wave.rejected ?? 0} rejected of ${targeted} targeted`}
            parts={[
              { value: wave.applied ?? 0, className: 'applied', label: 'applied' },
              { value: wave.rejected ?? 0, className: 'rejected', label: 'rejected' },
            ]}
          />
          <div className="counts small" data-testid="wave-counts">
            <span>targeted {targeted}</span>
            <span className="c-applied">applied {wave.applied ?? 0}</span>
            <span className="c-rejected">rejected {wave.rejected ?? 0}</span>
            <span className="c-unhealthy">unhealthy {wave.unhealthy ?? 0}</span>
            <span className="muted">reported {wave.reported ?? 0}</span>
          </div>
        </>
      ) : wave.status === 'done' ? (
        <Bar total={1} title="done" parts={[{ value: 1, className: 'applied', label: 'done' }]} />
      ) : (
        <Bar total={1} title="pending" parts={[]} />
      )}
    </li>
  );
}

const gateText: Record<GateSummary['name'], { label: string; op: string; ratio: boolean }> = {
  minInstances: { label: 'instances targeted', op: '≥', ratio: false },
  minReportRatio: { label: 'reported', op: '≥', ratio: true },
  maxRejectRatio: { label: 'rejected', op: '≤', ratio: true },
  maxUnhealthyRatio: { label: 'unhealthy', op: '≤', ratio: true },
};

function Gates({ gates }: { gates: GateSummary[] }) {
  return (
    <div className="table-wrap">
      <table className="table gates" data-testid="gates">
        <thead>
          <tr>
            <th>Gate</th>
            <th className="num">Value</th>
            <th className="num">Threshold</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {gates.map((gate) => {
            const text = gateText[gate.name] ?? { label: gate.name, op: '', ratio: true };
            const show = (v: number) => (text.ratio ? percent(v, 1) : String(v));
            return (
              <tr key={gate.name}>
                <td>{text.label}</td>
                <td className="num">{show(gate.value)}</td>
                <td className="num">
                  {text.op} {show(gate.threshold)}
                </td>
                <td>
                  <span className={`gate gate-${gate.status}`}>{gate.status}</span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function ReleaseCard({
  ns,
  canRelease,
  onReleased,
  rolloutActive,
}: {
  ns: string;
  canRelease: boolean;
  onReleased: () => void;
  rolloutActive: boolean;
}) {
  const { api } = useSession();
  const [asking, setAsking] = useState(false);
  const [supersede, setSupersede] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  if (!canRelease) return null;
  return (
    <div className="card">
      <h3>Release</h3>
      <p className="small muted">
        Freezes the namespace as it is now. On a staged namespace this starts a rollout through the waves.
      </p>
      <button
        className="primary"
        onClick={() => {
          setDone(null);
          setAsking(true);
        }}
      >
        Release now…
      </button>
      {done ? (
        <div className="success" role="status" data-testid="released">
          {done}
        </div>
      ) : null}
      {asking ? (
        <Confirm
          title={`Release ${ns}?`}
          confirmLabel="Release"
          withReason
          reasonLabel="Release note (audited)"
          onClose={() => setAsking(false)}
          onConfirm={async (note) => {
            const release = await api.post<Release>(`${nsPath(ns)}/releases`, {
              ...(note ? { note } : {}),
              ...(supersede ? { supersede: true } : {}),
            });
            setDone(
              `Release #${release.seq} made${release.rolloutId ? `; rollout ${release.rolloutId} started` : ''}.`,
            );
            onReleased();
          }}
        >
          {rolloutActive ? (
            <label className="small">
              <input type="checkbox" checked={supersede} onChange={(e) => setSupersede(e.target.checked)} /> A rollout
              is running: supersede it (abort it, then start this one)
            </label>
          ) : (
            'The current revision becomes a new release.'
          )}
        </Confirm>
      ) : null}
    </div>
  );
}

const releasesPerPage = 8;

function ReleaseList({
  ns,
  releases,
  fleet,
  canRelease,
  onRolledBack,
}: {
  ns: string;
  releases: Release[];
  fleet: Fleet | undefined;
  canRelease: boolean;
  onRolledBack: () => void;
}) {
  const { api } = useSession();
  const [target, setTarget] = useState<Release | null>(null);
  const [page, setPage] = useState(0);
  const [traced, setTraced] = useState<number | null>(null);
  if (releases.length === 0) return <p className="muted">No release yet.</p>;
  const pages = Math.ceil(releases.length / releasesPerPage);
  const current = Math.min(page, pages - 1);
  const shown = releases.slice(current * releasesPerPage, (current + 1) * releasesPerPage);
  return (
    <>
      <div className="table-wrap">
        <table className="table compact" data-testid="releases">
          <thead>
            <tr>
              <th>Release</th>
              <th>Kind · note</th>
              <th className="num">Fleet on it</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((release) => {
              const share = fleet ? shareOn(fleet, release.seq) : undefined;
              return (
                <tr key={release.seq} data-testid={`release-${release.seq}`}>
                  <td>
                    <strong>#{release.seq}</strong> <span className="muted small">r{release.revision}</span>{' '}
                    <span className="muted small" title={time(release.createdAt)}>
                      {whoOf(release.author)} · {ago(release.createdAt)}
                    </span>
                  </td>
                  <td className="small">
                    {release.kind}
                    {release.note ? <span className="muted"> · {release.note}</span> : null}
                  </td>
                  <td className="small num">
                    {share && share.total > 0 ? `${share.on}/${share.total} (${percent(share.ratio)})` : '—'}
                  </td>
                  <td>
                    <button className="small-button" onClick={() => setTraced(release.seq)}>
                      Trace
                    </button>{' '}
                    {canRelease && release !== releases[0] ? (
                      <button className="small-button" onClick={() => setTarget(release)}>
                        Roll back to…
                      </button>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {pages > 1 ? (
        <div className="pager small" data-testid="releases-pager">
          <button className="small-button" disabled={current === 0} onClick={() => setPage(current - 1)}>
            Newer
          </button>
          <span className="muted">
            page {current + 1} of {pages} · {releases.length} releases, newest first
          </span>
          <button className="small-button" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
            Older
          </button>
        </div>
      ) : null}
      {traced === null ? null : <TraceView ns={ns} seq={traced} onClose={() => setTraced(null)} />}
      {target ? (
        <Confirm
          title={`Roll back to the content of #${target.seq}?`}
          confirmLabel="Roll back"
          danger
          withReason
          reasonLabel="Release note (audited)"
          onClose={() => setTarget(null)}
          onConfirm={async (note) => {
            await api.post(`${nsPath(ns)}/releases`, { rollbackTo: target.seq, ...(note ? { note } : {}) });
            onRolledBack();
          }}
        >
          A new release (higher seq) with the content of #{target.seq} (revision {target.revision}) goes to every
          instance at once.
        </Confirm>
      ) : null}
    </>
  );
}

function RolloutHistory({ items }: { items: RolloutRecord[] }) {
  if (items.length === 0) return <p className="muted small">None.</p>;
  return (
    <ul className="rollout-history small">
      {items.map((r) => (
        <li key={r.id}>
          <StateBadge state={r.state} /> #{r.fromSeq}→#{r.toSeq} <span className="muted">{r.id}</span>
          <ul>
            {r.history.slice(-6).map((h, i) => (
              <li key={i} className="muted">
                {time(h.at)} · {h.from} → {h.to} (wave {h.wave + 1}) · {whoOf(h.actor)}
                {h.reason ? ` · ${h.reason}` : ''}
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}

const examplePolicy: PolicyDocument = {
  strategy: 'staged',
  waves: [
    { name: 'canary', percent: 10, bake: '30s', match: { region: ['westus'] } },
    { name: 'half', percent: 50, bake: '5m' },
    { name: 'everyone', percent: 100, bake: '0s' },
  ],
  gates: { minReportRatio: 0.8, maxRejectRatio: 0, maxUnhealthyRatio: 0.05, reportDeadline: '5m' },
  autoRollback: true,
};

/** Client-side checks before the server's own (which answers invalid_policy with every violation). */
function checkPolicy(text: string): { value?: unknown; problems: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problems: [`Not valid JSON: ${(error as Error).message}`] };
  }
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { problems: ['The policy must be a JSON object'] };
  const policy = value as Record<string, unknown>;
  if (!['immediate', 'manual', 'staged'].includes(String(policy.strategy)))
    problems.push('strategy must be immediate, manual or staged');
  if (policy.strategy === 'staged') {
    if (!Array.isArray(policy.waves) || policy.waves.length === 0)
      problems.push('waves: a staged policy needs at least one wave');
    else
      policy.waves.forEach((w: unknown, i) => {
        const wave = (w ?? {}) as Record<string, unknown>;
        if (typeof wave.name !== 'string' || wave.name === '') problems.push(`waves[${i}].name is required`);
        if (typeof wave.percent !== 'number' || wave.percent <= 0 || wave.percent > 100)
          problems.push(`waves[${i}].percent must be more than 0 and at most 100`);
        if (typeof wave.bake !== 'string') problems.push(`waves[${i}].bake is required, e.g. "30s"`);
      });
  }
  return { value, problems };
}

function PolicyCard({ ns }: { ns: string }) {
  const { api, who } = useSession();
  const policy = usePoll((signal) => api.get<PolicyDocument>(`${nsPath(ns)}/policy`, undefined, signal), null, [
    api,
    ns,
  ]);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const canManage = allows(who.scopes, 'manage', ns);
  const check = editing === null ? null : checkPolicy(editing);
  const save = async () => {
    if (!check?.value) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.put(`${nsPath(ns)}/policy`, check.value);
      setEditing(null);
      policy.refresh();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card" data-testid="policy">
      <h3>Rollout policy</h3>
      <Problem error={policy.error} />
      {policy.data && editing === null ? (
        <>
          <PolicySummary policy={policy.data} />
          {canManage ? (
            <button
              onClick={() =>
                setEditing(JSON.stringify(policy.data?.strategy === 'staged' ? policy.data : examplePolicy, null, 2))
              }
            >
              Edit policy
            </button>
          ) : (
            <p className="muted small">{notAllowed(who.scopes, 'manage', ns)}</p>
          )}
        </>
      ) : null}
      {editing !== null ? (
        <>
          <CodeEditor
            value={editing}
            onChange={setEditing}
            language="json"
            ariaLabel="Policy"
            diagnostics={error instanceof ApiError ? error.violations : []}
            invalid={(check?.problems.length ?? 0) > 0}
          />
          {check && check.problems.length > 0 ? (
            <ul className="violations invalid-msg">
              {check.problems.map((p, i) => (
                <li key={i}>{p}</li>
              ))}
            </ul>
          ) : null}
          <Problem error={error} title="Policy refused" />
          <div className="actions">
            <button onClick={() => setEditing(null)}>Cancel</button>
            <button
              className="primary"
              disabled={busy || !check || check.problems.length > 0}
              onClick={() => void save()}
            >
              Save policy
            </button>
          </div>
        </>
      ) : null}
    </div>
  );
}

function PolicySummary({ policy }: { policy: PolicyDocument }) {
  if (policy.strategy !== 'staged') {
    return (
      <p>
        <strong>{policy.strategy}</strong>:{' '}
        {policy.strategy === 'immediate'
          ? 'every commit is released at once, to every instance.'
          : 'only a release (button above) releases, to every instance at once.'}
      </p>
    );
  }
  return (
    <div className="small">
      <p>
        <strong>staged</strong>, auto-rollback {policy.autoRollback ? 'on' : 'off'}
      </p>
      <ol>
        {(policy.waves ?? []).map((w) => (
          <li key={w.name}>
            {w.name}: {w.percent}%{' '}
            {w.match
              ? `of ${Object.entries(w.match)
                  .map(([k, v]) => `${k}=${v.join('|')}`)
                  .join(' ')}`
              : ''}
            , bake {w.bake}
          </li>
        ))}
      </ol>
      {policy.gates ? (
        <p className="muted">
          gates: reported ≥ {percent(policy.gates.minReportRatio)}, rejected ≤ {percent(policy.gates.maxRejectRatio)},
          unhealthy ≤ {percent(policy.gates.maxUnhealthyRatio)}
          {policy.gates.reportDeadline ? `, reports within ${policy.gates.reportDeadline}` : ''}
        </p>
      ) : null}
    </div>
  );
}
