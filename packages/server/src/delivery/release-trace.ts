import { HeraldError, type Clock } from '@herald/core';
import type { InstanceRecord, RelayReceipt, ReleaseRecord, Store } from '@herald/store';
import { requirePermission, type Principal } from '../principal.js';
import { liveInstances } from './live-instances.js';

/** How a group of instances stands with one release; times are ms after the release was made. */
export interface TraceCounts {
  instances: number;
  applied: number;
  rejected: number;
  /** Already on a newer release (so past this one). */
  superseded: number;
  /** Still on an older release, or reported nothing of this one. */
  notReported: number;
  /** The first and the last application reported with a time (newer clients send it). */
  firstAppliedMs: number | null;
  lastAppliedMs: number | null;
}

export interface ReleaseTrace {
  namespace: string;
  seq: number;
  releasedAt: string;
  /** When the commit of its content was made, as ms before the release (0 or less). */
  committedMs: number | null;
  fleet: TraceCounts;
  /** Every relay that reported receiving the release, with the instances behind it (directly or further). */
  relays: Array<{
    relay: string;
    /** The relays between it and the control plane, nearest it first. */
    path: string[];
    receivedMs: number;
    servedMs: number | null;
    instances: TraceCounts;
  }>;
  /** Instances by the way they came (`via`: the relays, nearest the instance first; [] direct) and region attribute. */
  groups: Array<{ via: string[]; region: string; counts: TraceCounts }>;
}

type Outcome = { kind: 'applied'; at: number | undefined } | { kind: 'rejected' | 'superseded' | 'notReported' };

/** What one instance made of release `seq` of the namespace, from its views of it. */
function outcomeOf(record: InstanceRecord, namespace: string, seq: number): Outcome {
  const views = record.views.filter((v) => v.namespace === namespace);
  if (views.some((v) => v.seq === seq && v.status === 'rejected')) return { kind: 'rejected' };
  if (views.length > 0 && views.every((v) => v.seq === seq && v.status === 'applied')) {
    const times = views.flatMap((v) => (v.appliedAt === undefined ? [] : [v.appliedAt]));
    return { kind: 'applied', at: times.length > 0 ? Math.max(...times) : undefined };
  }
  if (views.some((v) => v.seq > seq)) return { kind: 'superseded' };
  return { kind: 'notReported' };
}

function emptyCounts(): TraceCounts {
  return {
    instances: 0,
    applied: 0,
    rejected: 0,
    superseded: 0,
    notReported: 0,
    firstAppliedMs: null,
    lastAppliedMs: null,
  };
}

function add(counts: TraceCounts, outcome: Outcome, releasedAt: number): void {
  counts.instances += 1;
  counts[outcome.kind] += 1;
  if (outcome.kind === 'applied' && outcome.at !== undefined) {
    const ms = outcome.at - releasedAt;
    counts.firstAppliedMs = counts.firstAppliedMs === null ? ms : Math.min(counts.firstAppliedMs, ms);
    counts.lastAppliedMs = counts.lastAppliedMs === null ? ms : Math.max(counts.lastAppliedMs, ms);
  }
}

/**
 * Where one release went: from the control plane through each relay (when it received and
 * served it, from the relays' receipts) to the instances (applied, rejected, past it, or not
 * reported), per relay chain and region, from the fleet's records. Times are the reporters'
 * own clocks, relative to the release.
 */
export function traceRelease(
  release: ReleaseRecord,
  committedAt: number | undefined,
  receipts: readonly RelayReceipt[],
  records: readonly InstanceRecord[],
): ReleaseTrace {
  const { namespace, seq, createdAt } = release;
  const fleet = emptyCounts();
  const relays = receipts.map((r) => ({
    relay: r.relay,
    path: r.path,
    receivedMs: r.receivedAt - createdAt,
    servedMs: r.servedAt === null ? null : r.servedAt - createdAt,
    instances: emptyCounts(),
  }));
  const byRelay = new Map(relays.map((r) => [r.relay, r]));
  const groups = new Map<string, { via: string[]; region: string; counts: TraceCounts }>();
  for (const record of records) {
    const outcome = outcomeOf(record, namespace, seq);
    add(fleet, outcome, createdAt);
    for (const hop of new Set(record.hops)) {
      const relay = byRelay.get(hop);
      if (relay) add(relay.instances, outcome, createdAt);
    }
    const region = record.attributes.region ?? '';
    const key = JSON.stringify([record.hops, region]);
    const group = groups.get(key) ?? { via: [...record.hops], region, counts: emptyCounts() };
    add(group.counts, outcome, createdAt);
    groups.set(key, group);
  }
  return {
    namespace,
    seq,
    releasedAt: new Date(createdAt).toISOString(),
    committedMs: committedAt === undefined ? null : committedAt - createdAt,
    fleet,
    // Nearer the control plane first: a chain reads top down.
    relays: relays.sort((a, b) => a.path.length - b.path.length || a.relay.localeCompare(b.relay)),
    groups: [...groups.values()].sort(
      (a, b) =>
        a.via.length - b.via.length || a.via.join().localeCompare(b.via.join()) || a.region.localeCompare(b.region),
    ),
  };
}

/** The trace of a release for a reader of its namespace (the fleet as of the instance TTL). */
export class ReleaseTraces {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #instanceTtlMs: number;
  readonly #flush: () => Promise<void>;

  constructor(deps: { store: Store; clock: Clock; instanceTtlMs: number; flush: () => Promise<void> }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#instanceTtlMs = deps.instanceTtlMs;
    this.#flush = deps.flush;
  }

  async trace(principal: Principal, namespace: string, seq: number): Promise<ReleaseTrace> {
    requirePermission(principal, 'read', namespace);
    if (!(await this.#store.getNamespace(namespace)))
      throw new HeraldError('namespace_not_found', `namespace "${namespace}" does not exist`);
    const release = await this.#store.getRelease(namespace, seq);
    if (!release) throw new HeraldError('revision_not_found', `namespace "${namespace}" has no release ${seq}`);
    await this.#flush();
    const [commit] = await this.#store.listCommits({
      namespace,
      order: 'newest',
      afterRevision: release.revision + 1,
      limit: 1,
    });
    const [receipts, records] = await Promise.all([
      this.#store.listRelayReceipts(namespace, seq),
      liveInstances(this.#store, namespace, this.#clock.now() - this.#instanceTtlMs),
    ]);
    return traceRelease(release, commit?.createdAt, receipts, records);
  }
}
