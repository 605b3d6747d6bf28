import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { nsPath } from '../api.js';
import { Bar, Loading, Problem } from '../components/ui.js';
import { fleetSamples } from '../fleet-samples.js';
import { ago, percent } from '../format.js';
import { usePoll } from '../hooks.js';
import { useSession } from '../session.js';
import { token, useTheme } from '../theme.js';
import type { Fleet, FleetInstance, Release } from '../types.js';

const preferredAttributes = ['region', 'service', 'version'];

export function FleetScreen({ ns, fleet, error }: { ns: string; fleet: Fleet | undefined; error: unknown }) {
  const { api } = useSession();
  const releases = usePoll(
    (signal) => api.get<{ items: Release[] }>(`${nsPath(ns)}/releases`, { limit: 10 }, signal),
    5000,
    [api, ns],
  );
  const attributes = useMemo(() => {
    const names = new Set<string>();
    for (const instance of fleet?.instances ?? []) for (const name of Object.keys(instance.attributes)) names.add(name);
    return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }, [fleet]);
  const [groupBy, setGroupBy] = useState<string | null>(null);
  const attribute = groupBy ?? attributes[0] ?? null;
  const instances = fleet?.instances ?? [];
  const seqs = [...new Set(instances.map((i) => i.seq))].sort((a, b) => b - a);
  const newest = releases.data?.items[0]?.seq;
  const rejected = instances.filter((i) => i.status === 'rejected');
  const unhealthy = instances.filter((i) => i.health !== 'ok' && i.health !== 'unknown' && i.health !== '');
  return (
    <div className="fleet">
      <Problem error={error ?? releases.error} />
      {!fleet && !error ? <Loading what="Loading the fleet" /> : null}
      {fleet ? (
        <>
          <div className="stats">
            <Stat label="instances reporting" value={String(instances.length)} />
            {newest !== undefined ? (
              <Stat
                label={`on the newest release #${newest}`}
                value={
                  instances.length
                    ? percent(
                        instances.filter((i) => i.seq === newest && i.status === 'applied').length / instances.length,
                      )
                    : '—'
                }
              />
            ) : null}
            <Stat label="rejected" value={String(rejected.length)} tone={rejected.length ? 'bad' : undefined} />
            <Stat label="unhealthy" value={String(unhealthy.length)} tone={unhealthy.length ? 'bad' : undefined} />
          </div>
          <div className="grid-2">
            <div className="card">
              <div className="card-head">
                <h3>By attribute</h3>
                {attributes.length > 0 ? (
                  <label className="field inline">
                    Group by
                    <select value={attribute ?? ''} onChange={(e) => setGroupBy(e.target.value)} aria-label="Group by">
                      {attributes.map((a) => (
                        <option key={a} value={a}>
                          {a}
                        </option>
                      ))}
                    </select>
                  </label>
                ) : null}
              </div>
              {instances.length === 0 ? (
                <p className="muted">No instance has reported on this namespace lately.</p>
              ) : null}
              {attribute ? (
                <Groups instances={instances} attribute={attribute} seqs={seqs} />
              ) : instances.length > 0 ? (
                <p className="muted small">The instances report no attributes.</p>
              ) : null}
            </div>
            <div className="card">
              <h3>Convergence per release</h3>
              <p className="small muted">
                Share of the fleet on each release against time since the release, sampled every second while this
                namespace is open.
              </p>
              <ConvergenceChart ns={ns} releases={releases.data?.items ?? []} height={260} />
            </div>
          </div>
          <div className="grid-2">
            <div className="card">
              <h3>Rejects</h3>
              <Rejects rejected={rejected} />
            </div>
            <div className="card">
              <h3>Instances</h3>
              <Instances instances={instances} />
            </div>
          </div>
        </>
      ) : null}
    </div>
  );
}

const rank = (name: string): number => {
  const i = preferredAttributes.indexOf(name);
  return i < 0 ? preferredAttributes.length : i;
};

function Stat({ label, value, tone }: { label: string; value: string; tone?: 'bad' | undefined }) {
  return (
    <div className={`stat ${tone === 'bad' ? 'stat-bad' : ''}`}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
    </div>
  );
}

const seqClasses = ['s0', 's1', 's2', 's3', 's4'];
/** One colour per release, the same in the bars and the chart. */
const seqClass = (seq: number): string => seqClasses[seq % seqClasses.length] ?? 's0';

function Groups({ instances, attribute, seqs }: { instances: FleetInstance[]; attribute: string; seqs: number[] }) {
  const groups = new Map<string, FleetInstance[]>();
  for (const instance of instances) {
    const value = instance.attributes[attribute] ?? '(none)';
    groups.set(value, [...(groups.get(value) ?? []), instance]);
  }
  const shown = seqs.slice(0, seqClasses.length);
  return (
    <>
      <div className="legend small">
        {shown.map((seq) => (
          <span key={seq} className={`legend-item ${seqClass(seq)}`}>
            #{seq}
          </span>
        ))}
        <span className="legend-item rejected">rejected</span>
      </div>
      <table className="table" data-testid="fleet-groups">
        <thead>
          <tr>
            <th>{attribute}</th>
            <th className="num">Instances</th>
            <th>Releases</th>
            <th className="num">Rejected</th>
          </tr>
        </thead>
        <tbody>
          {[...groups.entries()]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([value, members]) => {
              const rejected = members.filter((m) => m.status === 'rejected').length;
              return (
                <tr key={value}>
                  <td>{value}</td>
                  <td className="num">{members.length}</td>
                  <td>
                    <Bar
                      total={members.length}
                      title={shown
                        .map(
                          (seq) => `#${seq}: ${members.filter((m) => m.seq === seq && m.status === 'applied').length}`,
                        )
                        .join(', ')}
                      parts={[
                        ...shown.map((seq) => ({
                          value: members.filter((m) => m.seq === seq && m.status === 'applied').length,
                          className: seqClass(seq),
                          label: `#${seq}`,
                        })),
                        { value: rejected, className: 'rejected', label: 'rejected' },
                      ]}
                    />
                    <div className="small muted">
                      {shown
                        .map(
                          (seq) =>
                            [seq, members.filter((m) => m.seq === seq && m.status === 'applied').length] as const,
                        )
                        .filter(([, n]) => n > 0)
                        .map(([seq, n]) => `#${seq}: ${n}`)
                        .join(' · ')}
                    </div>
                  </td>
                  <td className="num">{rejected}</td>
                </tr>
              );
            })}
        </tbody>
      </table>
    </>
  );
}

function Rejects({ rejected }: { rejected: FleetInstance[] }) {
  if (rejected.length === 0) return <p className="muted">No instance rejects its release.</p>;
  const byReason = new Map<string, FleetInstance[]>();
  for (const instance of rejected) {
    const key = `#${instance.seq}: ${instance.reason ?? '(no reason given)'}`;
    byReason.set(key, [...(byReason.get(key) ?? []), instance]);
  }
  return (
    <ul className="rejects" data-testid="rejects">
      {[...byReason.entries()].map(([reason, members]) => (
        <li key={reason}>
          <strong>{members.length}</strong> × {reason}
          <div className="muted small">
            {members
              .slice(0, 8)
              .map((m) => m.instanceId)
              .join(', ')}
            {members.length > 8 ? ` and ${members.length - 8} more` : ''}
          </div>
        </li>
      ))}
    </ul>
  );
}

function Instances({ instances }: { instances: FleetInstance[] }) {
  const [filter, setFilter] = useState('');
  const shown = instances
    .filter(
      (i) =>
        !filter || `${i.instanceId} ${Object.values(i.attributes).join(' ')} #${i.seq} ${i.status}`.includes(filter),
    )
    .slice(0, 100);
  return (
    <>
      <input
        className="filter"
        placeholder="Filter: id, attribute, #seq, status"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
        aria-label="Filter instances"
      />
      <div className="scroll">
        <table className="table small">
          <thead>
            <tr>
              <th>Instance</th>
              <th>Attributes</th>
              <th>Release</th>
              <th>Health</th>
              <th>Seen</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((i) => (
              <tr key={i.instanceId}>
                <td>{i.instanceId}</td>
                <td className="muted">
                  {Object.entries(i.attributes)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' ')}
                </td>
                <td>
                  #{i.seq} <span className={i.status === 'rejected' ? 'c-rejected' : 'muted'}>{i.status}</span>
                </td>
                <td className={i.health === 'ok' ? 'muted' : 'c-unhealthy'} title={i.healthDetail}>
                  {i.health}
                </td>
                <td className="muted">{ago(i.lastSeen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {instances.length > shown.length ? (
        <p className="muted small">
          {shown.length} of {instances.length} shown.
        </p>
      ) : null}
    </>
  );
}

const paletteSize = 5;
const seriesColour = (seq: number): string => token(`--s${seq % paletteSize}`);

/**
 * Share of the fleet on each recent release (y, %) against seconds since that release was made
 * (x), from the fleet samples taken in this browser (uPlot, one series per release).
 */
export function ConvergenceChart({ ns, releases, height }: { ns: string; releases: Release[]; height: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => setTick((n) => n + 1), 1000);
    return () => window.clearInterval(timer);
  }, []);
  const recent = releases.slice(0, paletteSize);
  const { theme } = useTheme();
  const samples = fleetSamples(ns);
  const data = useMemo(() => {
    // One x axis (seconds since each release), the union of every series' points; gaps are null.
    const perRelease = recent.map((release) => {
      const createdAt = Date.parse(release.createdAt);
      const points = new Map<number, number>();
      for (const s of samples) {
        if (s.at < createdAt || s.total === 0) continue;
        points.set(Math.round((s.at - createdAt) / 1000), (100 * (s.applied[release.seq] ?? 0)) / s.total);
      }
      return points;
    });
    const xs = [...new Set(perRelease.flatMap((p) => [...p.keys()]))].sort((a, b) => a - b);
    return [xs, ...perRelease.map((p) => xs.map((x) => p.get(x) ?? null))] as uPlot.AlignedData;
    // samples grow in place; `tick` re-reads them
  }, [ns, recent.map((r) => r.seq).join(','), tick, samples.length]);
  const seriesKey = recent.map((r) => r.seq).join(',');

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const options: uPlot.Options = {
      width: Math.max(300, element.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false }, y: { range: [0, 100] } },
      axes: [
        { label: 'seconds since release', stroke: token('--axis'), grid: { stroke: token('--grid') } },
        {
          label: '% of fleet',
          stroke: token('--axis'),
          grid: { stroke: token('--grid') },
          values: (_u, ticks) => ticks.map((t) => `${t}%`),
        },
      ],
      series: [
        { label: 's' },
        ...recent.map((r) => ({
          label: `#${r.seq}`,
          stroke: seriesColour(r.seq),
          width: 2,
          spanGaps: true,
          points: { show: true, size: 5 },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${v.toFixed(0)}%`),
        })),
      ],
    };
    plot.current?.destroy();
    plot.current = new uPlot(options, data, element);
    const resize = () => plot.current?.setSize({ width: Math.max(300, element.clientWidth), height });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt when the set of releases changes; data updates go through setData below.
  }, [seriesKey, height, theme]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <div
      className="chart"
      data-testid="convergence-chart"
      data-points={recent.map((r, i) => `#${r.seq}:${(data[i + 1] ?? []).filter((v) => v !== null).length}`).join(' ')}
      data-x={`${data[0][0] ?? ''}..${data[0].at(-1) ?? ''}`}
    >
      {recent.length === 0 ? <p className="muted small">No release yet.</p> : null}
      {recent.length > 0 && data[0].length === 0 ? <p className="muted small">Collecting samples…</p> : null}
      <div ref={box} />
    </div>
  );
}
