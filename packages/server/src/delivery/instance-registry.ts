import { HeraldError } from '@herald/core';
import type { Store } from '@herald/store';
import type { CollectedReport } from './reports.js';

/** Owners remembered at most; past it the memory starts afresh (the store has the truth). */
const maxRemembered = 200_000;

/**
 * Decides, before a report is buffered, whether it may have the records it would write: in each
 * namespace of its views, an instance id belongs to the reporter that first reported it there
 * (`instance_conflict` for another), and a namespace holds at most `maxPerNamespace` records
 * (`instance_limit` for a new one past it). The store applies the same ownership when it writes,
 * so a race this misses (two nodes, one new id) still changes nothing of the owner's record.
 *
 * What it remembers (owners, counts) is forgotten at every pruning, on every node, so an id freed
 * there is free here too and the counts follow what was deleted.
 */
export class InstanceRegistry {
  readonly #store: Pick<Store, 'instanceOwners' | 'countInstances'>;
  readonly #maxPerNamespace: number;
  readonly #onRefusal: (code: 'instance_conflict' | 'instance_limit') => void;
  /** `[namespace, instanceId]` → reporter ('' for a record from before owners). */
  #owners = new Map<string, string>();
  /** Instance ids whose owners were read from the store. */
  #loaded = new Set<string>();
  #counts = new Map<string, number>();

  constructor(deps: {
    store: Pick<Store, 'instanceOwners' | 'countInstances'>;
    maxPerNamespace: number;
    onRefusal?: (code: 'instance_conflict' | 'instance_limit') => void;
  }) {
    this.#store = deps.store;
    this.#maxPerNamespace = deps.maxPerNamespace;
    this.#onRefusal = deps.onRefusal ?? (() => undefined);
  }

  async admit(report: Omit<CollectedReport, 'at'>): Promise<void> {
    const namespaces = [...new Set(report.views.map((v) => v.namespace))];
    if (namespaces.length === 0) return;
    if (report.leaving === true) {
      this.#leave(report.instanceId, report.reporter, namespaces);
      return;
    }
    if (!this.#loaded.has(report.instanceId)) {
      const owners = await this.#store.instanceOwners(report.instanceId);
      this.#remember(report.instanceId);
      for (const { namespace, reporter } of owners) {
        const key = JSON.stringify([namespace, report.instanceId]);
        if (!this.#owners.has(key)) this.#owners.set(key, reporter);
      }
    }
    const fresh = namespaces.filter((ns) => !this.#owners.has(JSON.stringify([ns, report.instanceId])));
    for (const ns of fresh) if (!this.#counts.has(ns)) this.#counts.set(ns, await this.#store.countInstances(ns));
    // From here on synchronous: decided and remembered with nothing in between.
    for (const ns of namespaces) {
      const owner = this.#owners.get(JSON.stringify([ns, report.instanceId]));
      if (owner !== undefined && owner !== '' && owner !== report.reporter) {
        this.#onRefusal('instance_conflict');
        throw new HeraldError(
          'instance_conflict',
          `instance "${report.instanceId}" of namespace "${ns}" is reported by another credential; give each instance its own id`,
        );
      }
      if (owner === undefined && (this.#counts.get(ns) ?? 0) >= this.#maxPerNamespace) {
        this.#onRefusal('instance_limit');
        throw new HeraldError(
          'instance_limit',
          `namespace "${ns}" holds ${this.#maxPerNamespace} instance records, the most allowed (maxInstancesPerNamespace)`,
        );
      }
    }
    for (const ns of namespaces) {
      const key = JSON.stringify([ns, report.instanceId]);
      if (!this.#owners.has(key)) this.#counts.set(ns, (this.#counts.get(ns) ?? 0) + 1);
      this.#owners.set(key, report.reporter);
    }
  }

  /**
   * A leaving report is never refused (the store removes only the reporter's own records, so
   * another credential's removes nothing); the ids it frees are free here too.
   */
  #leave(instanceId: string, reporter: string, namespaces: readonly string[]): void {
    for (const ns of namespaces) {
      const key = JSON.stringify([ns, instanceId]);
      if (this.#owners.get(key) !== reporter) continue;
      this.#owners.delete(key);
      const count = this.#counts.get(ns);
      if (count !== undefined) this.#counts.set(ns, Math.max(0, count - 1));
    }
  }

  /** Forgets owners and counts (after a pruning): the next reports read them from the store again. */
  forget(): void {
    this.#owners = new Map();
    this.#loaded = new Set();
    this.#counts = new Map();
  }

  #remember(instanceId: string): void {
    if (this.#owners.size >= maxRemembered || this.#loaded.size >= maxRemembered) {
      this.#owners = new Map();
      this.#loaded = new Set();
    }
    this.#loaded.add(instanceId);
  }
}
