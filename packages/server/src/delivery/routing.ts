import type { RolloutPolicyDocument, RolloutState } from '@herald/core';
import type { ReleaseRef } from './release-ref.js';

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
  stable: ReleaseRef;
  candidate?: ReleaseRef;
  isTargeted(instance: InstanceIdentity): boolean;
  /** Changes whenever any instance's target may have changed (new release, wave, state). */
  version: string;
  /** The rollout behind the route, for relays that select releases themselves. */
  rollout?: { state: RolloutState; policy: RolloutPolicyDocument };
}

/** Where each namespace stands: the store's releases and rollouts (control plane), or the upstream's word (relay). */
export interface Routing {
  route(namespace: string): Promise<NamespaceRoute | undefined>;
}

export function targetRelease(route: NamespaceRoute, instance: InstanceIdentity): ReleaseRef {
  return route.candidate && route.isTargeted(instance) ? route.candidate : route.stable;
}
