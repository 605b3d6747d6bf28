import type { RolloutPolicyDocument, RolloutState } from '@herald/core';
import type { ReleaseRecord, Store } from '@herald/store';

/** Who an instance is, as far as release selection cares. */
export interface InstanceIdentity {
  instanceId: string;
  attributes: Readonly<Record<string, string>>;
}

/**
 * Which release each instance of a namespace should hold now. Without a rollout that is the
 * newest release for everyone; during a staged rollout, targeted instances get the candidate
 * and the rest keep the stable release.
 */
export interface NamespaceRoute {
  stable: ReleaseRecord;
  candidate?: ReleaseRecord;
  isTargeted(instance: InstanceIdentity): boolean;
  /** Changes whenever any instance's target may have changed (new release, wave, state). */
  version: string;
  /** The rollout behind the route, for relays that select releases themselves. */
  rollout?: { state: RolloutState; policy: RolloutPolicyDocument };
}

export interface Routing {
  route(namespace: string): Promise<NamespaceRoute | undefined>;
}

/** Everyone gets the newest release: namespaces without staged rollouts. */
export class NewestReleaseRouting implements Routing {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async route(namespace: string): Promise<NamespaceRoute | undefined> {
    const newest = await this.#store.getRelease(namespace);
    return newest && { stable: newest, isTargeted: () => false, version: `${newest.seq}` };
  }
}

export function targetRelease(route: NamespaceRoute, instance: InstanceIdentity): ReleaseRecord {
  return route.candidate && route.isTargeted(instance) ? route.candidate : route.stable;
}
