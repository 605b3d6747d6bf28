import {
  allowsSecrets,
  checkLabels,
  formatPolicy,
  HeraldError,
  normaliseLabels,
  parsePolicy,
  viewKey,
  type Clock,
  type Limits,
  type PublicKeyInfo,
  type RolloutPolicyDocument,
  type ViewSpec,
} from '@herald/core';
import type { InstanceRecord, ReleaseRecord, Store } from '@herald/store';
import { actorOf, requirePermission, requireSystemAdmin, type Principal } from '../principal.js';
import type { KeyRing } from './keyring.js';
import { policyOf } from './policy.js';
import type { ReportCollector } from './reports.js';
import type { WatchRequestView } from './watch-hub.js';

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
  }>;
  health?: { status: 'ok' | 'degraded' | 'failing'; detail?: string };
}

export interface FleetItem {
  instanceId: string;
  attributes: Record<string, string>;
  labels: string[];
  seq: number;
  digest: string;
  status: 'applied' | 'rejected';
  reason?: string;
  health: 'ok' | 'degraded' | 'failing';
  healthDetail: string;
  lastSeen: string;
}

export interface ReleaseView {
  namespace: string;
  seq: number;
  revision: number;
  kind: string;
  author: string;
  note: string;
  createdAt: string;
}

/** Releases, policies, views, reports and fleet status: the delivery half of the control plane. */
export class DeliveryService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #limits: Limits;
  readonly #keys: KeyRing;
  readonly #reports: ReportCollector;
  readonly #instanceTtlMs: number;

  constructor(deps: {
    store: Store;
    clock: Clock;
    limits: Limits;
    keys: KeyRing;
    reports: ReportCollector;
    instanceTtlMs: number;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#limits = deps.limits;
    this.#keys = deps.keys;
    this.#reports = deps.reports;
    this.#instanceTtlMs = deps.instanceTtlMs;
  }

  publicKeys(): PublicKeyInfo[] {
    return this.#keys.published();
  }

  async rotateKeys(principal: Principal): Promise<PublicKeyInfo> {
    requireSystemAdmin(principal);
    return this.#keys.rotate({ actor: actorOf(principal), action: 'keys.rotate' });
  }

  /** Checks a watch or view request and decides each view's audience (with secrets or not). */
  async resolveViews(
    principal: Principal,
    requested: ReadonlyArray<{ namespace: string; labels?: string[]; seq?: number; digest?: string }>,
  ): Promise<WatchRequestView[]> {
    const resolved: WatchRequestView[] = [];
    for (const view of requested) {
      const labels = normaliseLabels(view.labels ?? []);
      checkLabels(labels, this.#limits);
      requirePermission(principal, 'view', view.namespace);
      if (!(await this.#store.getNamespace(view.namespace))) {
        throw new HeraldError('namespace_not_found', `namespace "${view.namespace}" does not exist`);
      }
      const spec: ViewSpec = { namespace: view.namespace, labels };
      const secrets = allowsSecrets(principal.scopes, view.namespace);
      resolved.push({
        spec,
        secrets,
        key: viewKey(spec, secrets),
        ...(view.seq === undefined ? {} : { seq: view.seq }),
        ...(view.digest === undefined ? {} : { digest: view.digest }),
      });
    }
    return resolved;
  }

  // --- releases and policy ---

  /** A new release (higher seq) with the content of release `toSeq`: clients never go back in seq. */
  async rollback(principal: Principal, namespace: string, toSeq: number, note: string): Promise<ReleaseView> {
    requirePermission(principal, 'release', namespace);
    const target = await this.#store.getRelease(namespace, toSeq);
    if (!target) throw new HeraldError('revision_not_found', `namespace "${namespace}" has no release ${toSeq}`);
    const release = await this.#store.createRelease(
      {
        namespace,
        revision: target.revision,
        kind: 'rollback',
        author: actorOf(principal),
        note: note || `rollback to release ${toSeq}`,
      },
      {
        actor: actorOf(principal),
        action: 'release.rollback',
        target: `namespace:${namespace}`,
        details: { toSeq, note },
      },
    );
    return releaseView(release);
  }

  async listReleases(principal: Principal, namespace: string, limit: number): Promise<ReleaseView[]> {
    requirePermission(principal, 'read', namespace);
    await this.#requireNamespace(namespace);
    return (await this.#store.listReleases({ namespace, limit })).map(releaseView);
  }

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

  report(principal: Principal, input: ReportInput): void {
    const views = (input.views ?? []).map((v) => {
      requirePermission(principal, 'view', v.namespace);
      return {
        namespace: v.namespace,
        labels: normaliseLabels(v.labels ?? []),
        seq: v.seq,
        digest: v.digest,
        status: v.status,
        reason: v.reason ?? '',
      };
    });
    this.#reports.accept({
      instanceId: input.instanceId,
      attributes: input.attributes ?? {},
      health: input.health?.status ?? 'ok',
      healthDetail: input.health?.detail ?? '',
      views,
    });
  }

  async fleet(
    principal: Principal,
    namespace: string,
  ): Promise<{ instances: FleetItem[]; releases: Array<{ seq: number; applied: number; rejected: number }> }> {
    requirePermission(principal, 'read', namespace);
    await this.#requireNamespace(namespace);
    await this.#reports.flush();
    const records = await this.#store.listInstances({ namespace, seenSince: this.#clock.now() - this.#instanceTtlMs });
    const instances = records.flatMap(fleetItems);
    const bySeq = new Map<number, { seq: number; applied: number; rejected: number }>();
    for (const item of instances) {
      const entry = bySeq.get(item.seq) ?? { seq: item.seq, applied: 0, rejected: 0 };
      entry[item.status] += 1;
      bySeq.set(item.seq, entry);
    }
    return { instances, releases: [...bySeq.values()].sort((a, b) => b.seq - a.seq) };
  }

  async #requireNamespace(namespace: string) {
    const record = await this.#store.getNamespace(namespace);
    if (!record) throw new HeraldError('namespace_not_found', `namespace "${namespace}" does not exist`);
    return record;
  }
}

function fleetItems(record: InstanceRecord): FleetItem[] {
  return record.views.map((view) => ({
    instanceId: record.instanceId,
    attributes: record.attributes,
    labels: view.labels,
    seq: view.seq,
    digest: view.digest,
    status: view.status,
    ...(view.reason ? { reason: view.reason } : {}),
    health: record.health,
    healthDetail: record.healthDetail,
    lastSeen: new Date(record.lastSeen).toISOString(),
  }));
}

export function releaseView(release: ReleaseRecord): ReleaseView {
  return { ...release, createdAt: new Date(release.createdAt).toISOString() };
}
