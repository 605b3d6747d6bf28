import { useMemo, useRef, useState } from 'react';
import { nsPath } from '../api.js';
import { Bar, Loading, Problem } from '../components/ui.js';
import { ConvergenceChart } from '../components/ConvergenceChart.js';
import { ago, percent } from '../format.js';
import { usePoll } from '../hooks.js';
import { useSession } from '../session.js';
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

interface Group {
  value: string;
  total: number;
  rejected: number;
  /** seq → instances that applied it. */
  applied: Map<number, number>;
}

/** Instances grouped by one attribute in a single pass (10,000 instances stay cheap). */
function groupBy(instances: FleetInstance[], attribute: string): Group[] {
  const groups = new Map<string, Group>();
  for (const instance of instances) {
    const value = instance.attributes[attribute] ?? '(none)';
    let group = groups.get(value);
    if (!group) {
      group = { value, total: 0, rejected: 0, applied: new Map() };
      groups.set(value, group);
    }
    group.total += 1;
    if (instance.status === 'rejected') group.rejected += 1;
    else if (instance.status === 'applied') group.applied.set(instance.seq, (group.applied.get(instance.seq) ?? 0) + 1);
  }
  return [...groups.values()].sort((a, b) => a.value.localeCompare(b.value));
}

const maxGroupsShown = 200;

function Groups({ instances, attribute, seqs }: { instances: FleetInstance[]; attribute: string; seqs: number[] }) {
  const groups = useMemo(() => groupBy(instances, attribute), [instances, attribute]);
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
      <div className="table-scroll">
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
            {groups.slice(0, maxGroupsShown).map((group) => (
              <tr key={group.value}>
                <td>{group.value}</td>
                <td className="num">{group.total}</td>
                <td>
                  <Bar
                    total={group.total}
                    title={shown.map((seq) => `#${seq}: ${group.applied.get(seq) ?? 0}`).join(', ')}
                    parts={[
                      ...shown.map((seq) => ({
                        value: group.applied.get(seq) ?? 0,
                        className: seqClass(seq),
                        label: `#${seq}`,
                      })),
                      { value: group.rejected, className: 'rejected', label: 'rejected' },
                    ]}
                  />
                  <div className="small muted">
                    {shown
                      .map((seq) => [seq, group.applied.get(seq) ?? 0] as const)
                      .filter(([, n]) => n > 0)
                      .map(([seq, n]) => `#${seq}: ${n}`)
                      .join(' · ')}
                  </div>
                </td>
                <td className="num">{group.rejected}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {groups.length > maxGroupsShown ? (
        <p className="muted small">
          The first {maxGroupsShown} of {groups.length} values of {attribute}; group by another attribute.
        </p>
      ) : null}
    </>
  );
}

function Rejects({ rejected }: { rejected: FleetInstance[] }) {
  if (rejected.length === 0) return <p className="muted">No instance rejects its release.</p>;
  const byReason = new Map<string, FleetInstance[]>();
  for (const instance of rejected) {
    const key = `#${instance.seq}: ${instance.reason ?? '(no reason given)'}`;
    const members = byReason.get(key);
    if (members) members.push(instance);
    else byReason.set(key, [instance]);
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

const rowHeight = 30;
const viewportRows = 12;
const overscan = 6;

/**
 * Every instance, filtered, in a virtualised list: only the rows in view (and a few around them)
 * are in the DOM, so 10,000 instances scroll as smoothly as 10.
 */
function Instances({ instances }: { instances: FleetInstance[] }) {
  const [filter, setFilter] = useState('');
  const [top, setTop] = useState(0);
  const scroller = useRef<HTMLDivElement>(null);
  const shown = useMemo(
    () =>
      filter
        ? instances.filter((i) =>
            `${i.instanceId} ${Object.values(i.attributes).join(' ')} #${i.seq} ${i.status}`.includes(filter),
          )
        : instances,
    [instances, filter],
  );
  const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
  const last = Math.min(shown.length, Math.ceil((top + viewportRows * rowHeight) / rowHeight) + overscan);
  return (
    <>
      <input
        className="filter"
        placeholder="Filter: id, attribute, #seq, status"
        value={filter}
        onChange={(e) => {
          setFilter(e.target.value);
          setTop(0);
          scroller.current?.scrollTo({ top: 0 });
        }}
        aria-label="Filter instances"
      />
      <div className="vlist" role="table" aria-label="Instances" data-testid="instances" data-count={shown.length}>
        <div className="vlist-row vlist-head" role="row">
          <span role="columnheader">Instance</span>
          <span role="columnheader">Attributes</span>
          <span role="columnheader">Release</span>
          <span role="columnheader">Health</span>
          <span role="columnheader">Seen</span>
        </div>
        <div
          className="vlist-body"
          ref={scroller}
          style={{ height: viewportRows * rowHeight }}
          onScroll={(e) => setTop(e.currentTarget.scrollTop)}
          data-testid="instances-scroll"
        >
          <div style={{ height: shown.length * rowHeight, position: 'relative' }}>
            {shown.slice(first, last).map((i, n) => (
              <div
                key={i.instanceId + '\u0000' + i.labels.join(',')}
                className="vlist-row"
                role="row"
                data-testid="instance-row"
                style={{ position: 'absolute', top: (first + n) * rowHeight, height: rowHeight, left: 0, right: 0 }}
              >
                <span role="cell" title={i.instanceId}>
                  {i.instanceId}
                </span>
                <span role="cell" className="muted">
                  {Object.entries(i.attributes)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(' ')}
                </span>
                <span role="cell">
                  #{i.seq} <span className={i.status === 'rejected' ? 'c-rejected' : 'muted'}>{i.status}</span>
                </span>
                <span role="cell" className={i.health === 'ok' ? 'muted' : 'c-unhealthy'} title={i.healthDetail}>
                  {i.health}
                </span>
                <span role="cell" className="muted">
                  {ago(i.lastSeen)}
                </span>
              </div>
            ))}
          </div>
        </div>
      </div>
      <p className="muted small">
        {shown.length === instances.length
          ? `${instances.length} instances`
          : `${shown.length} of ${instances.length} instances match`}
      </p>
    </>
  );
}
