import type { Clock } from '@herald/core';
import type { Store } from '@herald/store';
import type { Histogram } from 'prom-client';
import type { CollectedReport } from './reports.js';

/** When a release was made, and when the commit of its content was (unknown to a relay). */
export interface ReleaseTimes {
  releasedAt: number;
  committedAt?: number | undefined;
}

/** Instance views remembered at most; past it the memory starts afresh (a few repeats are observed twice). */
const maxRemembered = 200_000;
/** Release times remembered at most. */
const maxReleases = 10_000;

/**
 * Turns instance reports into `herald_propagation_seconds`: once per instance, view and release,
 * from the instance's own `appliedAt` (so a relay's batching does not count as propagation).
 * Reports are sent again every 30 s with the same views: only a seq not seen before for that
 * instance and view is observed, and only when the report is about a fresh application (applied
 * within `maxReportAgeMs`), so a node that restarts does not count the whole fleet again. Old
 * clients send no `appliedAt` and are not measured. Clocks differ between hosts: a negative
 * time (an instance clock behind) counts as 0.
 */
export class PropagationMeter {
  readonly #histogram: Histogram<'namespace' | 'tier' | 'from'>;
  readonly #tier: string;
  readonly #clock: Clock;
  readonly #releaseTimes: (namespace: string, seq: number) => Promise<ReleaseTimes | undefined>;
  readonly #maxReportAgeMs: number;
  #seen = new Map<string, number>();
  readonly #times = new Map<string, Promise<ReleaseTimes | undefined>>();

  constructor(deps: {
    histogram: Histogram<'namespace' | 'tier' | 'from'>;
    tier: 'control-plane' | 'relay';
    clock: Clock;
    releaseTimes: (namespace: string, seq: number) => Promise<ReleaseTimes | undefined>;
    maxReportAgeMs?: number;
  }) {
    this.#histogram = deps.histogram;
    this.#tier = deps.tier;
    this.#clock = deps.clock;
    this.#releaseTimes = deps.releaseTimes;
    this.#maxReportAgeMs = deps.maxReportAgeMs ?? 300_000;
  }

  /** Never throws: a metric must not fail a report. */
  async observe(report: Omit<CollectedReport, 'at'>): Promise<void> {
    if (report.leaving === true) return;
    const now = this.#clock.now();
    for (const view of report.views) {
      const appliedAt = view.appliedAt;
      if (view.status !== 'applied' || appliedAt === undefined || now - appliedAt > this.#maxReportAgeMs) continue;
      const key = JSON.stringify([report.reporter, report.instanceId, view.namespace, view.labels]);
      const previous = this.#seen.get(key);
      if (previous !== undefined && previous >= view.seq) continue;
      if (this.#seen.size >= maxRemembered) this.#seen = new Map();
      this.#seen.set(key, view.seq);
      const times = await this.#timesOf(view.namespace, view.seq);
      if (!times) continue;
      const labels = { namespace: view.namespace, tier: this.#tier };
      this.#histogram.observe({ ...labels, from: 'release' }, Math.max(0, appliedAt - times.releasedAt) / 1000);
      if (times.committedAt !== undefined)
        this.#histogram.observe({ ...labels, from: 'commit' }, Math.max(0, appliedAt - times.committedAt) / 1000);
    }
  }

  #timesOf(namespace: string, seq: number): Promise<ReleaseTimes | undefined> {
    const key = JSON.stringify([namespace, seq]);
    let times = this.#times.get(key);
    if (!times) {
      if (this.#times.size >= maxReleases) this.#times.clear();
      times = this.#releaseTimes(namespace, seq).catch(() => undefined);
      this.#times.set(key, times);
      // An unknown release may become known (a relay's route arrives later): ask again next time.
      void times.then((known) => {
        if (!known) this.#times.delete(key);
      });
    }
    return times;
  }
}

/** A control plane's release times: the release record, and the newest commit to the namespace at or before its revision. */
export function storeReleaseTimes(
  store: Pick<Store, 'getRelease' | 'listCommits'>,
): (namespace: string, seq: number) => Promise<ReleaseTimes | undefined> {
  return async (namespace, seq) => {
    const release = await store.getRelease(namespace, seq);
    if (!release) return undefined;
    const [commit] = await store.listCommits({
      namespace,
      order: 'newest',
      afterRevision: release.revision + 1,
      limit: 1,
    });
    return { releasedAt: release.createdAt, ...(commit ? { committedAt: commit.createdAt } : {}) };
  };
}
