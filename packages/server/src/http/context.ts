import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault } from 'fastify';
import { HeraldError, type Page } from '@herald/core';
import type { Leadership } from '@herald/store';
import type { ServerConfig } from '../config.js';
import type { ReleaseTraces } from '../delivery/release-trace.js';
import type { DeliveryService } from '../delivery/delivery-service.js';
import type { ReleaseService } from '../delivery/release-service.js';
import type { RolloutService } from '../rollouts/rollout-service.js';
import type { ChangeControlSettings } from '../change-control/change-control-settings.js';
import type { ChangeRequestService } from '../change-control/change-requests.js';
import type { ScheduleService } from '../change-control/schedules.js';
import type { ServerMetrics } from '../metrics.js';
import { bearerToken } from './bearer.js';
import { certificatePrincipal, type ClientIdentity } from './client-certificates.js';
import type { Principal } from '../principal.js';
import type { AdminServices } from '../services/admin-services.js';

export type HeraldApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface RouteContext {
  config: Readonly<ServerConfig>;
  delivery: DeliveryService;
  releases: ReleaseService;
  rollouts: RolloutService;
  /** Where each release went (herald trace). */
  traces: ReleaseTraces;
  changeSettings: ChangeControlSettings;
  changeRequests: ChangeRequestService;
  schedules: ScheduleService;
  /** This control-plane node, as /v1/cluster shows it. */
  node: { id: string; store: 'sqlite' | 'postgres'; leadership: Leadership };
  /** The admin operations: tokens, audit, namespaces, entries, history. */
  services: AdminServices;
  metrics: ServerMetrics;
  /** The authenticated caller; throws `unauthenticated` (401). Cached per request. */
  principal(request: FastifyRequest): Promise<Principal>;
  currentRevision(): Promise<number>;
  /** True once the store answered; false while it is unreachable. */
  ready(): Promise<boolean>;
}

const principals = new WeakMap<FastifyRequest, Principal>();

/** Who holds a bearer secret (the TokenService, or anything that answers the same way). */
export interface Authenticator {
  authenticate(token: string | undefined): Promise<Principal>;
}

/**
 * Who the request comes from: its bearer token when it has one (a token works alongside a client
 * certificate), else its verified client certificate mapped through `identities`, else nobody
 * (the authenticator's `unauthenticated`).
 */
export function principalResolver(
  service: Authenticator,
  identities: readonly ClientIdentity[] = [],
): (request: FastifyRequest) => Promise<Principal> {
  return async (request) => {
    const cached = principals.get(request);
    if (cached) return cached;
    const token = bearerToken(request.headers.authorization);
    const principal =
      (token === undefined ? certificatePrincipal(request, identities) : undefined) ??
      (await service.authenticate(token));
    const overrides = overridesOf(request);
    // A copy: the authenticator may hand the same principal to every request of a token.
    const resolved = overrides ? { ...principal, overrides } : principal;
    principals.set(request, resolved);
    return resolved;
  };
}

/** The emergency overrides a request asks for: each header's value is its reason, percent-encoded UTF-8. */
function overridesOf(request: FastifyRequest): Principal['overrides'] {
  const reason = (name: string): string | undefined => {
    const raw = request.headers[name];
    if (raw === undefined) return undefined;
    let text: string;
    try {
      text = decodeURIComponent(Array.isArray(raw) ? raw.join(',') : raw).trim();
    } catch {
      throw new HeraldError('invalid_request', `${name} must be a percent-encoded reason`);
    }
    if (text.length === 0 || text.length > 1000 || text.includes('\u0000'))
      throw new HeraldError('invalid_request', `${name} must give a reason (1 to 1000 characters)`);
    return text;
  };
  const approval = reason('herald-bypass-approval');
  const window = reason('herald-override-window');
  if (approval === undefined && window === undefined) return undefined;
  return { ...(approval === undefined ? {} : { approval }), ...(window === undefined ? {} : { window }) };
}

/** The paging a list request asks for: its limit (or the route's default) and its cursor when sent. */
export function pagingOf(
  query: { limit?: number; cursor?: string },
  defaultLimit: number,
): { limit: number; cursor?: string } {
  return { limit: query.limit ?? defaultLimit, ...(query.cursor ? { cursor: query.cursor } : {}) };
}

/** Sends a page with the cursor both in the body and as an RFC 8288 Link header, so plain HTTP clients can follow it. */
export function sendPage<P extends Page<unknown>>(request: FastifyRequest, reply: FastifyReply, page: P): P {
  if (page.next) {
    const url = new URL(request.url, 'http://placeholder');
    url.searchParams.set('cursor', page.next);
    void reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  return page;
}
