import {
  hashToken,
  allows,
  allowsSecrets,
  checkLabels,
  defaultLimits,
  HeraldError,
  normaliseLabels,
  parsePolicy,
  selectsCandidate,
  systemClock,
  TrustStore,
  viewKey,
  type Clock,
  type PublicKeyInfo,
  type Scope,
} from '@herald/core';
import type { ReleaseRecord } from '@herald/store';
import { Backoff, verifySnapshot } from '@herald/sdk/internal';
import type { FastifyRequest } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { RouteDescription, WatchBackend } from '../delivery/backend.js';
import type { ReportInput } from '../delivery/delivery-service.js';
import { ReportCollector } from '../delivery/reports.js';
import type { NamespaceRoute, Routing } from '../delivery/routing.js';
import { encodeEvent } from '../delivery/sse.js';
import { ViewService, type ComputedView, type ViewOrigin } from '../delivery/views.js';
import { heartbeatFrame, WatchHub, type WatchRequestView } from '../delivery/watch-hub.js';
import { buildApp } from '../http/app.js';
import type { HeraldApp } from '../http/context.js';
import type { Principal } from '../principal.js';
import { registerWatchRoutes } from '../routes/watch.js';
import { RelayCache } from './relay-cache.js';
import { Upstream, UpstreamRefusal } from './upstream.js';

export interface RelayOptions {
  /** The control plane or another relay. */
  upstream: string;
  /** A token with the client role on the namespaces this relay serves. */
  token: string;
  /** Pinned upstream keys, or 'tofu' (trust the upstream's keys on first contact, then pin them in the cache). */
  trust: readonly PublicKeyInfo[] | 'tofu';
  cacheDir: string;
  host?: string;
  port?: number;
  clock?: Clock;
  logLevel?: string;
  logStream?: NodeJS.WritableStream;
  heartbeatMs?: number;
  maxWatchStreams?: number;
  maxStreamBufferBytes?: number;
  reportFlushMs?: number;
  /** Seconds a route long-poll waits upstream. */
  routeWaitSeconds?: number;
  /** Called when the relay trusts keys on first contact, so the CLI can say so. */
  onTrustOnFirstUse?: (keys: PublicKeyInfo[]) => void;
}

const tokenCacheMs = 30_000;
const refusedTokenCacheMs = 5_000;

/**
 * A relay: serves the same watch, plain-HTTP and report API as the control plane, fed by an
 * upstream. It follows each namespace's route upstream with one long poll, fetches each view's
 * releases once, verifies them against the keys it trusts, keeps them on disk, and selects per
 * downstream instance exactly as the control plane would (the same pure function). It holds no
 * signing key: what it serves is signed upstream, so it cannot alter it unnoticed.
 */
export class Relay implements Routing, ViewOrigin {
  readonly #options: RelayOptions;
  readonly #clock: Clock;
  readonly #upstream: Upstream;
  readonly #cache: RelayCache;
  readonly #trust = new TrustStore();
  #published: PublicKeyInfo[] = [];
  readonly #routes = new Map<string, { description: RouteDescription; route: NamespaceRoute }>();
  readonly #followers = new Map<string, Promise<void>>();
  readonly #tokens = new Map<string, { principal?: Principal; until: number }>();
  #persistedTokens: Record<string, { tokenId: string; name: string; scopes: Scope[] }> = {};
  #audience: Scope[] = [];
  #revision = 0;
  #closed = false;
  readonly #app: HeraldApp;
  readonly views: ViewService;
  readonly hub: WatchHub;
  readonly #reports: ReportCollector;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly registry = new Registry();
  readonly #metrics;

  constructor(options: RelayOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#upstream = new Upstream(options.upstream, options.token);
    this.#cache = new RelayCache(options.cacheDir);
    const onError = (error: unknown) => this.#app.log.warn({ err: error }, 'relay background work failed');
    this.views = new ViewService(this);
    this.hub = new WatchHub({ routing: this, views: this.views, onError });
    this.#reports = new ReportCollector({
      sink: async (reports) => {
        for (let i = 0; i < reports.length; i += 5000) await this.#upstream.reports(reports.slice(i, i + 5000));
        this.#metrics.reportsForwarded.inc(reports.length);
      },
      clock: this.#clock,
      flushMs: options.reportFlushMs ?? 1000,
      maxBuffered: 200_000,
      onError,
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_process_' });
    const upstream = this.#upstream;
    const cache = this.#cache;
    this.#metrics = {
      watchStreams: new Gauge({ name: 'herald_watch_streams', help: 'Open watch streams', registers: [this.registry] }),
      reportsForwarded: new Counter({
        name: 'herald_relay_reports_forwarded_total',
        help: 'Instance reports forwarded upstream',
        registers: [this.registry],
      }),
      upstreamAge: new Gauge({
        name: 'herald_relay_upstream_last_contact_seconds',
        help: 'Seconds since the upstream last answered (lag)',
        registers: [this.registry],
        collect() {
          this.set(upstream.lastContact === 0 ? -1 : (Date.now() - upstream.lastContact) / 1000);
        },
      }),
      cachedViews: new Gauge({
        name: 'herald_relay_cached_views',
        help: 'Verified view releases kept on disk',
        registers: [this.registry],
        async collect() {
          this.set(await cache.countViews());
        },
      }),
    };
    this.#app = buildApp({
      limits: defaultLimits,
      logLevel: options.logLevel ?? 'info',
      ...(options.logStream ? { logStream: options.logStream } : {}),
      isClosing: () => this.#closed,
      retryAfterSeconds: 1,
    });
    this.#app.addHook('preClose', async () => this.hub.close());
    const backend: WatchBackend = {
      authenticate: (request) => this.#authenticate(request),
      resolveViews: (principal, requested) => this.#resolveViews(principal, requested),
      routing: this,
      views: this.views,
      hub: this.hub,
      publicKeys: () => this.#published,
      report: (principal, input) => this.#report(principal, input),
      currentRevision: async () => this.#revision,
    };
    void this.#app.register(async (routes) => {
      registerWatchRoutes(routes, {
        config: {
          maxWatchStreams: options.maxWatchStreams ?? 18_000,
          maxStreamBufferBytes: options.maxStreamBufferBytes ?? 4 * 1024 * 1024,
          heartbeatMs: options.heartbeatMs ?? 15_000,
          retryAfterSeconds: 1,
        },
        backend,
        watchStreams: this.#metrics.watchStreams,
        log: this.#app.log,
      });
      routes.get('/healthz', { schema: { tags: ['system'], security: [] } }, async () => ({ status: 'ok' }));
      routes.get('/readyz', { schema: { tags: ['system'], security: [] } }, async (_request, reply) => {
        // Ready when it can serve: it trusts keys and has either an upstream or a cache to serve from.
        // Cached routes are loaded when first asked for, so after a restart with no upstream the cache on disk is what counts.
        const ready =
          this.#trust.size > 0 &&
          (this.#upstream.lastContact > 0 || this.#routes.size > 0 || (await this.#cache.countViews()) > 0);
        return reply.code(ready ? 200 : 503).send({
          status: ready ? 'ready' : 'unavailable',
          upstream: this.#upstream.lastContact > 0 ? 'reached' : 'not reached',
        });
      });
      routes.get('/metrics', { schema: { tags: ['system'], security: [] } }, async (_request, reply) =>
        reply.type(this.registry.contentType).send(await this.registry.metrics()),
      );
    });
  }

  /** Loads the cache and keys (from the upstream, or the cache when it is away), then listens. */
  async listen(): Promise<string> {
    await this.#cache.open();
    this.#persistedTokens = await this.#cache.readTokens();
    await this.#loadKeys();
    await this.#app.listen({ host: this.#options.host ?? '127.0.0.1', port: this.#options.port ?? 0 });
    const heartbeat = setInterval(
      () => this.hub.broadcast(heartbeatFrame(this.#revision, Date.now())),
      this.#options.heartbeatMs ?? 15_000,
    );
    const keys = setInterval(() => void this.#refreshKeys().catch(() => undefined), 60_000);
    for (const timer of [heartbeat, keys]) {
      timer.unref();
      this.#timers.push(timer);
    }
    return this.url;
  }

  get url(): string {
    const address = this.#app.server.address() as AddressInfo;
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#app.close();
    await this.#reports.close().catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- Routing ---

  async route(namespace: string): Promise<NamespaceRoute | undefined> {
    const known = this.#routes.get(namespace);
    this.#follow(namespace);
    if (known) return known.route;
    const cached = await this.#cache.readRoute(namespace);
    if (cached) {
      this.#apply(namespace, cached, false);
      return this.#routes.get(namespace)?.route;
    }
    try {
      const fresh = await this.#upstream.route(namespace);
      if (fresh) this.#apply(namespace, fresh, true);
    } catch {
      return undefined;
    }
    return this.#routes.get(namespace)?.route;
  }

  // --- ViewOrigin ---

  async release(namespace: string, seq: number): Promise<ReleaseRecord | undefined> {
    return releaseStub(namespace, seq, 0, 0);
  }

  /** A view release from the disk cache, else from the upstream; verified either way before use. */
  async compute(
    spec: { namespace: string; labels: string[] },
    _secrets: boolean,
    release: ReleaseRecord,
  ): Promise<ComputedView> {
    const labels = normaliseLabels(spec.labels);
    let payload = await this.#cache.readView(spec.namespace, labels, release.seq);
    let verified = payload === undefined ? undefined : this.#verify(spec.namespace, labels, release.seq, payload);
    if (!verified) {
      payload = await this.#upstream.view(spec.namespace, labels, release.seq);
      verified = this.#verify(spec.namespace, labels, release.seq, payload);
      if (!verified) {
        await this.#refreshKeys();
        verified = this.#verify(spec.namespace, labels, release.seq, payload);
      }
      if (!verified)
        throw new HeraldError(
          'unavailable',
          `the upstream sent release ${release.seq} of ${spec.namespace} that does not verify`,
          { retryAfter: 1 },
        );
      await this.#cache.writeView(spec.namespace, labels, release.seq, payload);
    }
    const { manifest, signature, values } = verified;
    return {
      key: viewKey({ namespace: spec.namespace, labels }, manifest.secrets),
      spec: { namespace: spec.namespace, labels },
      secrets: manifest.secrets,
      release: releaseStub(spec.namespace, manifest.seq, manifest.revision, manifest.issuedAt),
      values,
      digest: manifest.digest,
      signed: { manifest, signature },
    };
  }

  #verify(namespace: string, labels: string[], seq: number, payload: unknown) {
    const verdict = verifySnapshot(payload, { view: { namespace, labels }, held: undefined, trust: this.#trust });
    return verdict.outcome === 'accept' && verdict.view.manifest.seq === seq ? verdict.view : undefined;
  }

  // --- following the upstream ---

  /** One long poll per namespace keeps its route current; errors back off and never stop it. */
  #follow(namespace: string): void {
    if (this.#followers.has(namespace) || this.#closed) return;
    const backoff = new Backoff();
    const loop = async () => {
      while (!this.#closed) {
        try {
          const version = this.#routes.get(namespace)?.description.version;
          const fresh = await this.#upstream.route(namespace, version, this.#options.routeWaitSeconds ?? 25);
          if (fresh) this.#apply(namespace, fresh, true);
          backoff.reset();
        } catch (error) {
          const delay = error instanceof UpstreamRefusal ? 5000 : backoff.next();
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
        }
      }
    };
    this.#followers.set(namespace, loop());
  }

  #apply(namespace: string, description: RouteDescription, persist: boolean): void {
    const rollout = description.rollout;
    const policy = rollout ? parsePolicy(rollout.policy) : undefined;
    const route: NamespaceRoute = {
      stable: releaseStub(namespace, description.stable.seq, description.stable.revision, description.stable.createdAt),
      ...(description.candidate
        ? {
            candidate: releaseStub(
              namespace,
              description.candidate.seq,
              description.candidate.revision,
              description.candidate.createdAt,
            ),
          }
        : {}),
      isTargeted: rollout && policy ? (instance) => selectsCandidate(rollout.state, policy, instance) : () => false,
      version: description.version,
      ...(rollout ? { rollout } : {}),
    };
    this.#routes.set(namespace, { description, route });
    if (description.revision !== undefined) this.#revision = Math.max(this.#revision, description.revision);
    if (persist) void this.#cache.writeRoute(namespace, description).catch(() => undefined);
    this.hub.refresh();
  }

  async #loadKeys(): Promise<void> {
    const pinned = this.#options.trust === 'tofu' ? await this.#cache.readKeys() : [...this.#options.trust];
    if (pinned) for (const key of pinned) this.#trust.add(key);
    try {
      this.#published = await this.#upstream.keys();
      if (!pinned) {
        // Trust on first use: the upstream's keys now, pinned in the cache from here on.
        for (const key of this.#published) this.#trust.add(key);
        await this.#cache.writeKeys(this.#published);
        this.#options.onTrustOnFirstUse?.(this.#published);
      } else {
        this.#trust.learn(this.#published);
      }
      const me = await this.#upstream.whoami(this.#options.token);
      this.#audience = me.scopes;
      await this.#cache.writeAudience(me.scopes);
    } catch (error) {
      if (error instanceof UpstreamRefusal) throw error;
      if (!pinned)
        throw new HeraldError(
          'unavailable',
          `cannot reach ${this.#options.upstream} to learn its keys, and no keys are pinned`,
          { cause: error },
        );
      this.#audience = (await this.#cache.readAudience()) ?? [];
      this.#published = (await this.#cache.readKeys()) ?? [...this.#trust.list().map((k) => ({ ...k, createdAt: 0 }))];
    }
  }

  async #refreshKeys(): Promise<void> {
    const published = await this.#upstream.keys();
    const learned = this.#trust.learn(published);
    this.#published = published;
    if (learned.length > 0) {
      await this.#cache.writeKeys(published.filter((k) => this.#trust.has(k.keyId)));
      this.hub.broadcast(encodeEvent('keys', { keys: published }));
    }
  }

  // --- downstream ---

  /** Downstream tokens are checked upstream (whoami), cached, and remembered by hash for outages. */
  async #authenticate(request: FastifyRequest): Promise<Principal> {
    const header = request.headers.authorization;
    const token = header && /^bearer /iu.test(header) ? header.slice(7).trim() : undefined;
    if (!token) throw new HeraldError('unauthenticated', 'send a bearer token in the Authorization header');
    const hash = hashToken(token);
    const now = Date.now();
    const cached = this.#tokens.get(hash);
    if (cached && cached.until > now) {
      if (cached.principal) return cached.principal;
      throw new HeraldError('unauthenticated', 'the token is unknown, revoked or expired');
    }
    try {
      const who = await this.#upstream.whoami(token);
      const principal: Principal = { tokenId: who.tokenId, name: who.name, scopes: who.scopes };
      this.#tokens.set(hash, { principal, until: now + tokenCacheMs });
      if (!this.#persistedTokens[hash]) {
        this.#persistedTokens[hash] = who;
        void this.#cache.writeTokens(this.#persistedTokens).catch(() => undefined);
      }
      return principal;
    } catch (error) {
      if (error instanceof UpstreamRefusal) {
        this.#tokens.set(hash, { until: now + refusedTokenCacheMs });
        delete this.#persistedTokens[hash];
        throw new HeraldError('unauthenticated', 'the token is unknown, revoked or expired');
      }
      // The upstream is away: a token it validated before still works (static stability).
      const remembered = this.#persistedTokens[hash];
      if (remembered) return { tokenId: remembered.tokenId, name: remembered.name, scopes: remembered.scopes };
      throw error;
    }
  }

  async #resolveViews(
    principal: Principal,
    requested: ReadonlyArray<{ namespace: string; labels?: string[]; seq?: number; digest?: string }>,
  ): Promise<WatchRequestView[]> {
    return requested.map((view) => {
      const labels = normaliseLabels(view.labels ?? []);
      checkLabels(labels, defaultLimits);
      if (!allows(principal.scopes, 'view', view.namespace)) {
        throw new HeraldError('forbidden', `token ${principal.tokenId} may not view namespace "${view.namespace}"`);
      }
      // The relay serves what its own token receives; it must not hand secrets to a client that may not read them.
      const secrets = allowsSecrets(this.#audience, view.namespace);
      if (secrets && !allowsSecrets(principal.scopes, view.namespace)) {
        throw new HeraldError(
          'forbidden',
          `this relay serves "${view.namespace}" with secrets, which token ${principal.tokenId} may not read`,
        );
      }
      const spec = { namespace: view.namespace, labels };
      return {
        spec,
        secrets,
        key: viewKey(spec, secrets),
        ...(view.seq === undefined ? {} : { seq: view.seq }),
        ...(view.digest === undefined ? {} : { digest: view.digest }),
      };
    });
  }

  #report(principal: Principal, input: ReportInput): void {
    for (const v of input.views ?? []) {
      if (!allows(principal.scopes, 'view', v.namespace))
        throw new HeraldError('forbidden', `token ${principal.tokenId} may not report on "${v.namespace}"`);
    }
    this.#reports.accept({
      instanceId: input.instanceId,
      attributes: input.attributes ?? {},
      health: input.health?.status ?? 'ok',
      healthDetail: input.health?.detail ?? '',
      views: (input.views ?? []).map((v) => ({
        namespace: v.namespace,
        labels: normaliseLabels(v.labels ?? []),
        seq: v.seq,
        digest: v.digest,
        status: v.status,
        reason: v.reason ?? '',
      })),
    });
  }
}

function releaseStub(namespace: string, seq: number, revision: number, createdAt: number): ReleaseRecord {
  return { namespace, seq, revision, createdAt, kind: 'commit', author: '', note: '' };
}

export const silentRelayLogs = new Writable({ write: (_chunk, _encoding, done) => done() });
