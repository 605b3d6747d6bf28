import { nsPath } from '../api.js';
import { Loading, Problem } from '../components/ui.js';
import { time } from '../format.js';
import { usePoll } from '../hooks.js';
import { useSession } from '../session.js';
import type { ReleaseTrace, TraceCounts } from '../types.js';

/** Milliseconds after the release: "+40 ms", "+1.8 s" (negative: a reporter's clock behind). */
function offset(ms: number | null): string {
  if (ms === null) return '—';
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  const seconds = Math.round(abs / 1000);
  return `${sign}${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function outcome(c: TraceCounts): string {
  const parts = [`${c.applied} applied`];
  if (c.rejected > 0) parts.push(`${c.rejected} rejected`);
  if (c.notReported > 0) parts.push(`${c.notReported} not reported`);
  if (c.superseded > 0) parts.push(`${c.superseded} on a newer release`);
  return parts.join(', ');
}

function span(c: TraceCounts): string {
  if (c.firstAppliedMs === null || c.lastAppliedMs === null) return '—';
  return c.firstAppliedMs === c.lastAppliedMs
    ? offset(c.firstAppliedMs)
    : `${offset(c.firstAppliedMs)} … ${offset(c.lastAppliedMs)}`;
}

/**
 * The trace of one release, refreshed every 2 s while open: the control plane, each relay down
 * the chain (when it received and served the release), then the instances per relay chain and
 * region. The same data as `herald trace NS SEQ`.
 */
export function TraceView({ ns, seq, onClose }: { ns: string; seq: number; onClose: () => void }) {
  const { api } = useSession();
  const trace = usePoll(
    (signal) => api.get<ReleaseTrace>(`${nsPath(ns)}/releases/${seq}/trace`, undefined, signal),
    2000,
    [api, ns, seq],
  );
  const t = trace.data;
  return (
    <section className="card" data-testid="trace">
      <div className="page-head">
        <h3>Trace of release #{seq}</h3>
        <button className="small-button" onClick={onClose}>
          Close
        </button>
      </div>
      <Problem error={trace.error} />
      {trace.loading && !t ? <Loading /> : null}
      {t ? (
        <>
          <p className="muted small">
            made {time(t.releasedAt)} · {t.fleet.instances} instances: {outcome(t.fleet)} · applied {span(t.fleet)}
          </p>
          <table className="table" data-testid="trace-hops">
            <thead>
              <tr>
                <th>Hop</th>
                <th>Received</th>
                <th>Served</th>
                <th>Instances</th>
                <th>Outcome</th>
                <th>Applied</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <td>control plane</td>
                <td>+0 ms</td>
                <td>+0 ms</td>
                <td>{t.fleet.instances}</td>
                <td className="small">{outcome(t.fleet)}</td>
                <td className="small">{span(t.fleet)}</td>
              </tr>
              {t.relays.map((r) => (
                <tr key={r.relay}>
                  <td style={{ paddingLeft: `${1 + r.path.length}em` }}>↳ {r.relay}</td>
                  <td>{offset(r.receivedMs)}</td>
                  <td>{offset(r.servedMs)}</td>
                  <td>{r.instances.instances}</td>
                  <td className="small">{outcome(r.instances)}</td>
                  <td className="small">{span(r.instances)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table className="table" data-testid="trace-groups">
            <thead>
              <tr>
                <th>Via</th>
                <th>Region</th>
                <th>Instances</th>
                <th>Outcome</th>
                <th>Applied</th>
              </tr>
            </thead>
            <tbody>
              {t.groups.map((g) => (
                <tr key={`${g.via.join('/')}|${g.region}`}>
                  <td>{g.via.length === 0 ? 'direct' : g.via.join(' ← ')}</td>
                  <td>{g.region === '' ? '—' : g.region}</td>
                  <td>{g.counts.instances}</td>
                  <td className="small">{outcome(g.counts)}</td>
                  <td className="small">{span(g.counts)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
