import type { PublicKeyInfo, RolloutPolicyDocument, RolloutState } from '@herald/core';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../principal.js';
import type { ReportInput } from './delivery-service.js';
import type { NamespaceRoute, Routing } from './routing.js';
import type { ViewService } from './views.js';
import type { WatchHub, WatchRequestView } from './watch-hub.js';

/** A release as routes describe it on the wire. */
export interface ReleaseStub {
  seq: number;
  revision: number;
  createdAt: number;
}

/** Where a namespace stands, on the wire: what relays need to select releases exactly as the control plane does. */
export interface RouteDescription {
  version: string;
  /** The store revision the answering node had seen (relays pass on how fresh they are). */
  revision?: number;
  stable: ReleaseStub;
  candidate?: ReleaseStub;
  rollout?: { state: RolloutState; policy: RolloutPolicyDocument };
}

export function describeRoute(route: NamespaceRoute): RouteDescription {
  const stub = (r: { seq: number; revision: number; createdAt: number }): ReleaseStub => ({
    seq: r.seq,
    revision: r.revision,
    createdAt: r.createdAt,
  });
  return {
    version: route.version,
    stable: stub(route.stable),
    ...(route.candidate ? { candidate: stub(route.candidate) } : {}),
    ...(route.rollout ? { rollout: route.rollout } : {}),
  };
}

/**
 * What the watch API needs from whoever serves it: the control plane (store behind it) or a
 * relay (an upstream behind it). Both serve the same routes, so a client cannot tell which it
 * talks to.
 */
export interface WatchBackend {
  authenticate(request: FastifyRequest): Promise<Principal>;
  resolveViews(
    principal: Principal,
    requested: ReadonlyArray<{ namespace: string; labels?: string[]; seq?: number; digest?: string }>,
  ): Promise<WatchRequestView[]>;
  routing: Routing;
  views: ViewService;
  hub: WatchHub;
  publicKeys(): PublicKeyInfo[];
  report(principal: Principal, input: ReportInput): void;
  currentRevision(): Promise<number>;
}
