import { formatPolicy, selectsCandidate } from '@herald/core';
import type { Store } from '@herald/store';
import type { NamespaceRoute, Routing } from '../delivery/routing.js';
import { fromRecord } from './rollout-record.js';

/**
 * Routing with staged rollouts: while a rollout of the namespace is active, the instances its
 * waves and buckets select get the candidate and the others keep the stable release; otherwise
 * everyone gets the newest release. The same pure selection runs on every node (and relay).
 */
export class RolloutRouting implements Routing {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async route(namespace: string): Promise<NamespaceRoute | undefined> {
    const [active] = await this.#store.listActiveRollouts(namespace);
    if (!active) {
      const newest = await this.#store.getRelease(namespace);
      return newest && { stable: newest, isTargeted: () => false, version: `newest:${newest.seq}` };
    }
    const rollout = fromRecord(active);
    const [stable, candidate] = await Promise.all([
      this.#store.getRelease(namespace, rollout.state.fromSeq),
      this.#store.getRelease(namespace, rollout.state.toSeq),
    ]);
    if (!stable) return undefined;
    return {
      stable,
      // A rollout saved before its candidate release exists (a crash between the two) routes everyone to stable.
      ...(candidate ? { candidate } : {}),
      isTargeted: (instance) => selectsCandidate(rollout.state, rollout.policy, instance),
      version: `rollout:${rollout.record.id}:${rollout.record.version}:${candidate ? candidate.seq : '-'}`,
      rollout: { state: rollout.state, policy: formatPolicy(rollout.policy) },
    };
  }
}
