import type { PublicKeyInfo, RolloutPolicyDocument, RolloutState } from '@herald/core';
import type { FastifyRequest } from 'fastify';
import type { ReportedEvaluation } from '../flags/evaluation-tally.js';
import type { Principal } from '../principal.js';
import type { ReleaseRef } from './release-ref.js';
import type { ReportInput } from './reports.js';
import type { NamespaceRoute, Routing } from './routing.js';
import type { ViewRequest } from './view-requests.js';
import type { ViewService } from './views.js';
import type { WatchRequestView, WatchSubscriptions } from './watch-hub.js';

/** A release as routes describe it on the wire (the namespace is the route's). */
export type ReleaseStub = Omit<ReleaseRef, 'namespace'>;

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
  const stub = (r: ReleaseRef): ReleaseStub => ({
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
  resolveViews(principal: Principal, requested: readonly ViewRequest[]): Promise<WatchRequestView[]>;
  routing: Routing;
  views: ViewService;
  hub: WatchSubscriptions;
  publicKeys(): PublicKeyInfo[];
  /** Takes a report; `onBehalfOf` is the reporter a relay names for a report it forwards. */
  report(principal: Principal, input: ReportInput, onBehalfOf?: string): Promise<void>;
  /** Takes relays' receipts of releases (a relay forwards those of the relays behind it), for release traces. */
  relayReceipts(principal: Principal, receipts: readonly RelayReceiptInput[]): Promise<void>;
  currentRevision(): Promise<number>;
  /** Takes flag evaluation counts (of namespaces the principal may view; `forbidden` otherwise). */
  countEvaluations(principal: Principal, evaluations: readonly ReportedEvaluation[]): void;
}

/** A relay's receipt of a release as the batch route takes it: `path` is the relays it came through, nearest it first. */
export interface RelayReceiptInput {
  namespace: string;
  seq: number;
  relay: string;
  path?: string[];
  receivedAt: number;
  servedAt?: number;
}
