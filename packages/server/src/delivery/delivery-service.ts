import {
  allowsSecrets,
  formatPolicy,
  HeraldError,
  parsePolicy,
  type Clock,
  type Limits,
  type PublicKeyInfo,
  type RolloutPolicyDocument,
} from '@herald/core';
import type { InstanceRecord, InstanceSummary, Store } from '@herald/store';
import { actorOf, requirePermission, requireSystemAdmin, type Principal } from '../principal.js';
import type { RelayReceiptInput } from './backend.js';
import type { InstanceRegistry } from './instance-registry.js';
import type { KeyRing } from './keyring.js';
import { policyOf } from './policy.js';
import { normaliseReport, type CollectedReport, type ReportCollector, type ReportInput } from './reports.js';
import { resolveViewRequests, type ViewAccess, type ViewRequest } from './view-requests.js';
import type { WatchRequestView } from './watch-hub.js';

export interface FleetPage {
  limit?: number | undefined;
  after?: string | undefined;
  /** false: the counts only. */
  instances?: boolean | undefined;
}

export interface FleetAnswer {
  instances: FleetItem[];
  /** Views per release and status, over the whole fleet (not only the page). */
  releases: InstanceSummary['releases'];
  summary: Omit<InstanceSummary, 'releases'>;
  /** The `after` of the next page, when there is one. */
  next?: string;
}

export interface FleetItem {
  instanceId: string;
  attributes: Record<string, string>;
  labels: string[];
  seq: number;
  /** Only for principals that may read the namespace's secrets (see `fleet`). */
  digest?: string;
  status: 'applied' | 'rejected';
  reason?: string;
  health: 'ok' | 'degraded' | 'failing';
  healthDetail: string;
  lastSeen: string;
}

/** Keys, policies, view requests, reports and fleet status: the delivery half of the control plane (releases are ReleaseService's). */
export class DeliveryService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #keys: KeyRing;
  readonly #reports: ReportCollector;
  readonly #instances: InstanceRegistry;
  readonly #instanceTtlMs: number;
  readonly #access: ViewAccess;
  readonly #onAccepted: (report: Omit<CollectedReport, 'at'>) => void;

  constructor(deps: {
    store: Store;
    clock: Clock;
    limits: Limits;
    keys: KeyRing;
    reports: ReportCollector;
    instances: InstanceRegistry;
    instanceTtlMs: number;
    /** Hears of every report taken (propagation is measured from them). */
    onAccepted?: (report: Omit<CollectedReport, 'at'>) => void;
  }) {
    this.#onAccepted = deps.onAccepted ?? (() => undefined);
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#keys = deps.keys;
    this.#reports = deps.reports;
    this.#instances = deps.instances;
    this.#instanceTtlMs = deps.instanceTtlMs;
    this.#access = {
      limits: deps.limits,
      secrets: (principal, namespace) => allowsSecrets(principal.scopes, namespace),
      requireNamespace: async (namespace) => void (await this.#requireNamespace(namespace)),
    };
  }

  async rotateKeys(principal: Principal): Promise<PublicKeyInfo> {
    requireSystemAdmin(principal);
    return this.#keys.rotate({ actor: actorOf(principal), action: 'keys.rotate' });
  }

  /** Checks a watch or view request and decides each view's audience: with secrets when the token may read them. */
  async resolveViews(principal: Principal, requested: readonly ViewRequest[]): Promise<WatchRequestView[]> {
    return resolveViewRequests(principal, requested, this.#access);
  }

  // --- policy ---

  async getPolicy(principal: Principal, namespace: string): Promise<RolloutPolicyDocument> {
    requirePermission(principal, 'read', namespace);
    return formatPolicy(policyOf((await this.#requireNamespace(namespace)).policy));
  }

  /** Validates (invalid_policy lists every problem with its path) and stores the canonical form. */
  async setPolicy(principal: Principal, namespace: string, input: unknown): Promise<RolloutPolicyDocument> {
    requirePermission(principal, 'manage', namespace);
    const document = formatPolicy(parsePolicy(input));
    await this.#store.updateNamespace(
      namespace,
      { policy: document as unknown as Record<string, unknown> },
      {
        actor: actorOf(principal),
        action: 'namespace.policy.set',
        target: `namespace:${namespace}`,
        details: { policy: document },
      },
    );
    return document;
  }

  // --- reports and fleet ---

  /**
   * Takes a report for the next batch, once its views are ones the token may watch and the records
   * it would write are its own (instance_conflict) and fit (instance_limit). `onBehalfOf`: the
   * client a relay forwards it for.
   */
  async report(principal: Principal, input: ReportInput, onBehalfOf?: string): Promise<void> {
    const report = normaliseReport(principal, input, onBehalfOf);
    await this.#instances.admit(report);
    this.#reports.accept(report);
    this.#onAccepted(report);
  }

  /** Relays' receipts of releases, for traces: each on a namespace the token may watch (as its reports are). */
  async relayReceipts(principal: Principal, receipts: readonly RelayReceiptInput[]): Promise<void> {
    for (const r of receipts) requirePermission(principal, 'view', r.namespace);
    await this.#store.recordRelayReceipts(
      receipts.map((r) => ({
        namespace: r.namespace,
        seq: r.seq,
        relay: r.relay,
        path: r.path ?? [],
        receivedAt: r.receivedAt,
        servedAt: r.servedAt ?? null,
      })),
    );
  }

  /**
   * The namespace's fleet: its counts (by the database, for every instance seen within the TTL)
   * and its instances, all of them or one page (`limit`, then `after` the last id of a page:
   * `next`). `instances: false` answers the counts alone, which stays cheap at any fleet size.
   */
  async fleet(principal: Principal, namespace: string, page: FleetPage = {}): Promise<FleetAnswer> {
    requirePermission(principal, 'read', namespace);
    await this.#requireNamespace(namespace);
    await this.#reports.flush();
    const seenSince = this.#clock.now() - this.#instanceTtlMs;
    const summary = await this.#store.summarizeInstances({ namespace, seenSince });
    const { releases, ...counts } = summary;
    if (page.instances === false) return { instances: [], releases, summary: counts };
    const records = await this.#store.listInstances({
      namespace,
      seenSince,
      ...(page.after === undefined ? {} : { after: page.after }),
      // One more than asked says whether there is a next page.
      ...(page.limit === undefined ? {} : { limit: page.limit + 1 }),
    });
    const more = page.limit !== undefined && records.length > page.limit;
    const shown = more ? records.slice(0, page.limit) : records;
    // The reported digest may be of a view with secrets (an unsalted SHA-256 of values the caller
    // sees all but the secret of): shown, it would let a reader test guesses of the secret offline.
    // Which release and whether it applied is what a reader needs; the digest is for those who may
    // read the secrets.
    const withDigest = allowsSecrets(principal.scopes, namespace);
    return {
      instances: shown.flatMap((record) => fleetItems(record, withDigest)),
      releases,
      summary: counts,
      ...(more ? { next: shown.at(-1)!.instanceId } : {}),
    };
  }

  async #requireNamespace(namespace: string) {
    const record = await this.#store.getNamespace(namespace);
    if (!record) throw new HeraldError('namespace_not_found', `namespace "${namespace}" does not exist`);
    return record;
  }
}

function fleetItems(record: InstanceRecord, withDigest: boolean): FleetItem[] {
  return record.views.map((view) => ({
    instanceId: record.instanceId,
    attributes: record.attributes,
    labels: view.labels,
    seq: view.seq,
    ...(withDigest ? { digest: view.digest } : {}),
    status: view.status,
    ...(view.reason ? { reason: view.reason } : {}),
    health: record.health,
    healthDetail: record.healthDetail,
    lastSeen: new Date(record.lastSeen).toISOString(),
  }));
}
