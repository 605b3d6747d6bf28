import { allowsRelaying, HeraldError, normaliseLabels, tokenLineage, type TimerClock } from '@herald/core';
import type { InstanceReport, InstanceViewReport, Store } from '@herald/store';
import { requirePermission, type Principal } from '../principal.js';

/** What an instance reports, as the report routes take it. */
export interface ReportInput {
  instanceId: string;
  attributes?: Record<string, string>;
  views?: Array<{
    namespace: string;
    labels?: string[];
    seq: number;
    digest: string;
    status: 'applied' | 'rejected';
    reason?: string;
    /** When the instance received and applied the release (ms since the epoch, its own clock); newer clients send them. */
    receivedAt?: number;
    appliedAt?: number;
  }>;
  /** The relays the report came through, nearest the instance first. */
  hops?: string[];
  health?: { status: 'ok' | 'degraded' | 'failing'; detail?: string };
  /** The instance's last report: it is closing, and leaves the fleet at once. */
  leaving?: boolean;
}

/** A view's line as collected: the store's, with the instance's times when it sent them (forwarded by relays). */
export type CollectedView = InstanceViewReport & { receivedAt?: number | undefined; appliedAt?: number | undefined };

/**
 * A report as the collector buffers it: `leaving` removes the instance's records instead of
 * writing them; `hops` are the relays it came through, nearest the instance first.
 */
export type CollectedReport = Omit<InstanceReport, 'views'> & {
  views: CollectedView[];
  leaving?: boolean | undefined;
  hops?: string[] | undefined;
};

/**
 * A report as it is stored, checked against the reporter's token: it may report only on views it
 * may watch, and it changes only the records of the namespaces of those views (a report with no
 * views changes nothing). The control plane and relays take reports so alike. `onBehalfOf` is
 * the reporter a relay forwarding the report names (its client's token id): the reporter is then
 * the client's own id when the forwarding credential is a relay's (scope `relay`), else the
 * forwarder's id and the client's, so no other token can report as another token's instances.
 */
/**
 * Who a report is bound to: the credential's lineage, which a token rotation keeps (tokenLineage);
 * for a report a relay forwards, the relay's lineage and its client's.
 */
export function reporterOf(principal: Pick<Principal, 'tokenId'>, onBehalfOf?: string): string {
  return onBehalfOf === undefined
    ? tokenLineage(principal.tokenId)
    : `${tokenLineage(principal.tokenId)}/${tokenLineage(onBehalfOf)}`;
}

export function normaliseReport(
  principal: Principal,
  input: ReportInput,
  onBehalfOf?: string,
): Omit<CollectedReport, 'at'> {
  const views = (input.views ?? []).map((v) => {
    requirePermission(principal, 'view', v.namespace);
    return {
      namespace: v.namespace,
      labels: normaliseLabels(v.labels ?? []),
      seq: v.seq,
      digest: v.digest,
      status: v.status,
      reason: v.reason ?? '',
      ...(v.receivedAt === undefined ? {} : { receivedAt: v.receivedAt }),
      ...(v.appliedAt === undefined ? {} : { appliedAt: v.appliedAt }),
    };
  });
  // Bound to the credential's lineage, which a token rotation keeps (tokenLineage). A relay's
  // credential (scope `relay`) speaks for its clients: the instance is the client's, whichever hop
  // it reports through, so failing over between relays and the control plane keeps one record.
  // Any other credential naming a client is kept apart from that client's own reports.
  const speaksForClient =
    onBehalfOf !== undefined && views.length > 0 && views.every((v) => allowsRelaying(principal.scopes, v.namespace));
  return {
    instanceId: input.instanceId,
    reporter:
      speaksForClient && onBehalfOf !== undefined ? tokenLineage(onBehalfOf) : reporterOf(principal, onBehalfOf),
    attributes: input.attributes ?? {},
    health: input.health?.status ?? 'ok',
    healthDetail: input.health?.detail ?? '',
    views,
    ...(input.leaving === true ? { leaving: true } : {}),
    ...(input.hops === undefined || input.hops.length === 0 ? {} : { hops: input.hops }),
  };
}

/**
 * Writes a batch to the store: the reports, then the leaving instances' removal from the
 * namespaces of their views (only the records their reporter owns).
 */
export async function writeReports(
  store: Pick<Store, 'recordReports' | 'removeInstances'>,
  reports: readonly CollectedReport[],
): Promise<void> {
  await store.recordReports(reports.filter((r) => r.leaving !== true));
  // Grouped by namespace and reporter: one statement per pair, however many instances leave.
  const leaving = new Map<string, { namespace: string; reporter: string; ids: string[] }>();
  for (const report of reports) {
    if (report.leaving !== true) continue;
    for (const namespace of new Set(report.views.map((v) => v.namespace))) {
      const key = JSON.stringify([namespace, report.reporter]);
      const group = leaving.get(key) ?? { namespace, reporter: report.reporter, ids: [] };
      group.ids.push(report.instanceId);
      leaving.set(key, group);
    }
  }
  for (const { namespace, reporter, ids } of leaving.values()) await store.removeInstances(namespace, ids, reporter);
}

/**
 * Buffers instance reports and writes them to the store in batches (one transaction per
 * interval), so a fleet reporting every 30 s costs the store a few statements a second, not a
 * transaction per instance. Later reports of an instance replace earlier ones in the buffer; its
 * views are merged. The buffer is bounded: past it, reports are refused with 503 and retried.
 * A leaving report replaces what is buffered of its instance (with the namespaces of both), so
 * nothing buffered writes the instance back after it left; a later report brings it back.
 */
export class ReportCollector {
  readonly #sink: (reports: CollectedReport[]) => Promise<void>;
  readonly #clock: TimerClock;
  readonly #maxBuffered: number;
  readonly #onError: (error: unknown) => void;
  /** Keyed by reporter and instance id. */
  #buffer = new Map<string, CollectedReport>();
  readonly #timer: unknown;
  #flushing: Promise<void> | undefined;

  /** `sink` writes a batch: the store on a control plane, the upstream on a relay. */
  constructor(deps: {
    sink: (reports: CollectedReport[]) => Promise<void>;
    clock: TimerClock;
    flushMs: number;
    maxBuffered: number;
    onError: (error: unknown) => void;
  }) {
    this.#sink = deps.sink;
    this.#clock = deps.clock;
    this.#maxBuffered = deps.maxBuffered;
    this.#onError = deps.onError;
    this.#timer = deps.clock.setInterval(() => void this.flush(), deps.flushMs);
  }

  accept(report: Omit<CollectedReport, 'at'>): void {
    // Two reporters of one id are kept apart here: the store decides whose record it is.
    const key = JSON.stringify([report.reporter, report.instanceId]);
    const previous = this.#buffer.get(key);
    if (!previous && this.#buffer.size >= this.#maxBuffered) {
      throw new HeraldError('unavailable', 'too many reports are waiting to be written; retry later', {
        retryAfter: 2,
      });
    }
    // What an instance said before it left is not brought back by its return.
    const kept = previous?.leaving === true ? [] : (previous?.views ?? []);
    const views = new Map(kept.map((v) => [JSON.stringify([v.namespace, v.labels]), v]));
    for (const v of report.views) views.set(JSON.stringify([v.namespace, v.labels]), v);
    this.#buffer.set(key, { ...report, views: [...views.values()], at: this.#clock.now() });
  }

  /** Writes what is buffered; concurrent calls share one write. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    await this.flush();
  }

  async #write(): Promise<void> {
    if (this.#buffer.size === 0) return;
    const batch = [...this.#buffer.values()];
    this.#buffer = new Map();
    try {
      await this.#sink(batch);
    } catch (error) {
      // Put them back unless newer ones arrived meanwhile; they are retried at the next interval.
      for (const report of batch) {
        const key = JSON.stringify([report.reporter, report.instanceId]);
        if (!this.#buffer.has(key)) this.#buffer.set(key, report);
      }
      this.#onError(error);
    }
  }
}
