import type { TimerClock } from '@herald/core';
import type { InstanceRecord, Store } from '@herald/store';
import { Gauge, type Registry } from 'prom-client';
import { liveInstances } from './live-instances.js';

/** One namespace's fleet as the gauges show it. */
export interface FleetSummary {
  namespace: string;
  /** The namespace's newest release (0: none yet), and when it was made (0: none). */
  newestSeq: number;
  newestAt: number;
  instances: number;
  /** Instances whose every view of the namespace applied the newest release. */
  converged: number;
  rejecting: number;
  unhealthy: number;
  stale: number;
}

/** Counts a namespace's live instance records (seen within the TTL); pure, so it is tested alone. */
export function summarizeFleet(
  namespace: string,
  newest: { seq: number; createdAt: number } | undefined,
  records: readonly InstanceRecord[],
  staleBefore: number,
): FleetSummary {
  const newestSeq = newest?.seq ?? 0;
  let converged = 0;
  let rejecting = 0;
  let unhealthy = 0;
  let stale = 0;
  for (const record of records) {
    const views = record.views.filter((v) => v.namespace === namespace);
    if (views.length > 0 && views.every((v) => v.status === 'applied' && v.seq === newestSeq)) converged += 1;
    if (views.some((v) => v.status === 'rejected')) rejecting += 1;
    if (record.health !== 'ok') unhealthy += 1;
    if (record.lastSeen < staleBefore) stale += 1;
  }
  return {
    namespace,
    newestSeq,
    newestAt: newest?.createdAt ?? 0,
    instances: records.length,
    converged,
    rejecting,
    unhealthy,
    stale,
  };
}

/** Namespaces read per page, and read at most (the gauges of a store with more show the first ones). */
const pageSize = 500;
const maxNamespaces = 10_000;

/**
 * The fleet per namespace, read from the store when scraped: how many instances are known, how
 * many run the newest release (convergence), reject, are unhealthy, or are stale (not seen within
 * `staleAfterMs`, their heartbeat, though still within the TTL). Every node of a cluster reads
 * the same store and shows the same figures (alerts take `max by (namespace)`). One reading
 * serves the scrapes of `minIntervalMs`, so several Prometheus servers cost the store one pass.
 * A store that does not answer never holds the scrape (herald_store_up says what is wrong): past
 * `timeoutMs` the last reading is shown.
 */
export function registerFleetGauges(
  registry: Registry,
  deps: {
    store: Pick<Store, 'listNamespaces' | 'getRelease' | 'listInstances'>;
    clock: TimerClock;
    instanceTtlMs: number;
    /** A scrape waits this long for the store; past it the gauges show the last reading (none at first). */
    timeoutMs: number;
    staleAfterMs: number;
    /** Buffered reports are written first, so the gauges show what was reported. */
    flush: () => Promise<void>;
    minIntervalMs?: number;
  },
): void {
  const minIntervalMs = deps.minIntervalMs ?? 5_000;
  let last: { at: number; summaries: Promise<FleetSummary[]> } | undefined;
  let lastRead: FleetSummary[] = [];
  const read = async (): Promise<FleetSummary[]> => {
    await deps.flush();
    const now = deps.clock.now();
    const summaries: FleetSummary[] = [];
    let after: string | undefined;
    while (summaries.length < maxNamespaces) {
      const page = await deps.store.listNamespaces({ after, limit: pageSize });
      for (const ns of page) {
        const [newest, records] = await Promise.all([
          deps.store.getRelease(ns.name),
          liveInstances(deps.store, ns.name, now - deps.instanceTtlMs),
        ]);
        summaries.push(summarizeFleet(ns.name, newest, records, now - deps.staleAfterMs));
      }
      if (page.length < pageSize) break;
      after = page[page.length - 1]?.name;
    }
    return summaries;
  };
  const summaries = async (): Promise<FleetSummary[]> => {
    const now = deps.clock.now();
    if (!last || now - last.at >= minIntervalMs) {
      const reading = read();
      // A failed reading is not kept: the next scrape tries again.
      reading.then(
        (read) => (lastRead = read),
        () => (last = undefined),
      );
      last = { at: now, summaries: reading };
    }
    let timer: unknown;
    const late = new Promise<FleetSummary[]>((resolve) => {
      timer = deps.clock.setTimeout(() => resolve(lastRead), deps.timeoutMs);
    });
    try {
      return await Promise.race([last.summaries.catch(() => lastRead), late]);
    } finally {
      deps.clock.clearTimeout(timer);
    }
  };
  const gauge = (name: string, help: string, value: (s: FleetSummary) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['namespace'] as const,
      registers: [registry],
      async collect() {
        const all = await summaries();
        this.reset();
        for (const s of all) {
          const v = value(s);
          if (v !== undefined) this.set({ namespace: s.namespace }, v);
        }
      },
    });
  gauge(
    'herald_fleet_instances',
    'Instances known per namespace (reported within the instance TTL)',
    (s) => s.instances,
  );
  gauge(
    'herald_fleet_converged_instances',
    "Instances per namespace whose views all applied the namespace's newest release",
    (s) => s.converged,
  );
  gauge(
    'herald_fleet_convergence_ratio',
    'Instances on the newest release / instances known, per namespace (absent while none are known)',
    (s) => (s.instances === 0 ? undefined : s.converged / s.instances),
  );
  gauge(
    'herald_fleet_rejecting_instances',
    'Instances per namespace whose latest report rejected a release',
    (s) => s.rejecting,
  );
  gauge(
    'herald_fleet_unhealthy_instances',
    'Instances per namespace reporting health degraded or failing',
    (s) => s.unhealthy,
  );
  gauge(
    'herald_fleet_stale_instances',
    'Instances per namespace not seen within their heartbeat (staleAfterMs) but still within the TTL',
    (s) => s.stale,
  );
  gauge('herald_release_newest_seq', "Seq of the namespace's newest release (0: none)", (s) => s.newestSeq);
  gauge(
    'herald_release_newest_timestamp_seconds',
    "When the namespace's newest release was made (seconds since the epoch; absent: none)",
    (s) => (s.newestAt === 0 ? undefined : s.newestAt / 1000),
  );
}
