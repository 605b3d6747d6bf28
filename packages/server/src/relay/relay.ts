import type { AddressInfo } from 'node:net';
import { allowsSecrets, HeraldError, isHeraldError, systemClock, type TimerClock } from '@herald/core';
import type { WatchBackend } from '../delivery/backend.js';
import { normaliseReport, ReportCollector } from '../delivery/reports.js';
import { resolveViewRequests, type ViewAccess } from '../delivery/view-requests.js';
import { ViewService } from '../delivery/views.js';
import { WatchHub } from '../delivery/watch-hub.js';
import { buildApp } from '../http/app.js';
import { connectionLimitsOf } from '../http/connection-limits.js';
import { principalResolver, type HeraldApp } from '../http/context.js';
import { registerWatchRoutes } from '../routes/watch.js';
import { registerOfrepRoutes } from '../routes/ofrep.js';
import { EvaluationTally } from '../flags/evaluation-tally.js';
import { requirePermission } from '../principal.js';
import { ofrepViews } from '../flags/ofrep-views.js';
import { RelayCache } from './relay-cache.js';
import { resolveRelayConfig, type RelayConfig, type RelayOptions } from './relay-config.js';
import { PropagationMeter } from '../delivery/propagation.js';
import { RelayLag } from './relay-lag.js';
import { RelayReceipts } from './relay-receipts.js';
import { RelayMetrics } from './relay-metrics.js';
import { RelayViewOrigin } from './relay-origin.js';
import { RelayTokens } from './relay-tokens.js';
import { RelayTrust } from './relay-trust.js';
import { Upstream } from './upstream.js';
import { UpstreamRouting } from './upstream-routing.js';

type State = 'built' | 'listening' | 'closing' | 'closed';

/** Forwarded upstream per request at most (the batch route's bound). */
const reportBatch = 5000;

/**
 * A relay: serves the same watch, plain-HTTP and report API as the control plane, fed by an
 * upstream, with the control plane's own parts (watch hub, view service, report collector, watch
 * routes) over its own routing (UpstreamRouting), view origin (RelayViewOrigin), keys
 * (RelayTrust) and token checks (RelayTokens). It holds no signing key.
 *
 * Its lifecycle is the server's: built, then listen(); `close()` is graceful and `destroy()`
 * forceful, both idempotent (concurrent calls share one shutdown); `closed()` resolves once it
 * has closed, with the error the shutdown met if any, and never rejects.
 */
export class Relay {
  readonly config: Readonly<RelayConfig>;
  readonly views: ViewService;
  readonly hub: WatchHub;
  readonly metrics: RelayMetrics;
  readonly #clock: TimerClock;
  readonly #app: HeraldApp;
  readonly #upstream: Upstream;
  readonly #cache: RelayCache;
  readonly #trust: RelayTrust;
  readonly #tokens: RelayTokens;
  readonly #routing: UpstreamRouting;
  readonly #reports: ReportCollector;
  readonly #evaluations: EvaluationTally;
  readonly #receipts: RelayReceipts;
  #state: State = 'built';
  #keyRefresh: unknown;
  #upstreamProbe: unknown;
  #closing: Promise<void> | undefined;
  readonly #closed: Promise<void | Error>;
  #settleClosed!: (outcome: void | Error) => void;

  constructor(options: RelayOptions) {
    this.config = resolveRelayConfig(options);
    const config = this.config;
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    this.#closed = new Promise((resolve) => (this.#settleClosed = resolve));
    const onError = (error: unknown) => {
      // During an outage the failures are the outage, logged once when it started: no line per retry.
      if (isHeraldError(error) && error.code === 'unavailable' && this.#upstream.unreachableSince !== undefined) return;
      this.#app.log.warn({ err: error }, 'relay background work failed');
    };
    this.#upstream = new Upstream({
      url: config.upstream,
      token: config.token,
      tls: config.upstreamTls,
      timeoutMs: config.upstreamTimeoutMs,
      clock,
      failover: { failbackAfterMs: config.upstreamFailbackAfterMs, probeIntervalMs: config.upstreamProbeIntervalMs },
      onMove: (event) =>
        this.#app.log.warn(
          { upstream: event.to, previous: event.from, reason: event.reason },
          event.kind === 'failover'
            ? `upstream ${event.from} failed (${event.reason}); using ${event.to}`
            : `back to upstream ${event.to} (${event.reason})`,
        ),
      name: config.name,
      onOutage: (event) => {
        const origin = this.#upstream.url.origin;
        if (event.state === 'down')
          this.#app.log.warn(
            { upstream: origin, reason: event.cause instanceof Error ? event.cause.message : String(event.cause) },
            `upstream ${origin} unreachable; serving from cache until it is back`,
          );
        else
          this.#app.log.warn(
            { upstream: origin, outageMs: event.lastedMs },
            `upstream ${origin} reachable again after ${formatOutage(event.lastedMs)}`,
          );
      },
    });
    this.#cache = new RelayCache(config.cacheDir);
    this.#receipts = new RelayReceipts({
      name: config.name,
      clock,
      flushMs: config.reportFlushMs,
      send: (receipts) => this.#upstream.receipts(receipts),
      onError,
    });
    const lag = new RelayLag({
      clock,
      sources: { newest: () => this.#routing.newest(), unreachableSince: () => this.#upstream.unreachableSince },
    });
    this.metrics = new RelayMetrics({
      lag,
      servingFromCache: () => this.#upstream.unreachableSince !== undefined,
      countViews: () => this.#cache.countViews(),
      upstream: () => ({ url: this.#upstream.url.origin, since: this.#upstream.endpointSince }),
    });
    const propagation = new PropagationMeter({
      histogram: this.metrics.propagation,
      tier: 'relay',
      clock,
      releaseTimes: async (namespace, seq) => {
        const releasedAt = this.#routing.releasedAt(namespace, seq);
        return releasedAt === undefined ? undefined : { releasedAt };
      },
    });
    this.#trust = new RelayTrust({
      upstream: this.#upstream,
      cache: this.#cache,
      pinned: config.trust,
      onTrustOnFirstUse: options.onTrustOnFirstUse ?? (() => undefined),
      onLearned: (keys) => this.hub.publishKeys(keys),
    });
    this.#tokens = new RelayTokens({
      upstream: this.#upstream,
      cache: this.#cache,
      clock,
      cacheMs: config.tokenCacheMs,
      refusedCacheMs: config.refusedTokenCacheMs,
    });
    this.views = new ViewService(
      new RelayViewOrigin({
        upstream: this.#upstream,
        cache: this.#cache,
        trust: this.#trust,
        onHeld: (namespace, labels, seq) => {
          lag.held(namespace, labels, seq);
          this.#receipts.held(namespace, seq);
        },
      }),
    );
    // A relay makes no releases: the routes arriving from upstream are what wakes its hub.
    this.#routing = new UpstreamRouting({
      upstream: this.#upstream,
      cache: this.#cache,
      clock,
      waitSeconds: config.routeWaitSeconds,
      refusalRetryMs: config.refusalRetryMs,
      onChange: () => this.hub.refresh(),
      onRelease: (namespace, seq) => this.#receipts.routed(namespace, seq),
    });
    this.hub = new WatchHub({ routing: this.#routing, views: this.views, clock, onError });
    this.#reports = new ReportCollector({
      sink: async (reports) => {
        for (let i = 0; i < reports.length; i += reportBatch) {
          const refused = await this.#upstream.reports(reports.slice(i, i + reportBatch));
          // Not retried: the upstream will refuse them again (their ids are another credential's, or the namespace is full).
          if (refused.length > 0) this.#app.log.warn({ refused }, 'the upstream refused reports');
        }
        this.metrics.reportsForwarded.inc(reports.length);
      },
      clock,
      flushMs: config.reportFlushMs,
      maxBuffered: config.maxBufferedReports,
      onError,
    });
    // Counts of its clients' reports and of its own OFREP answers, added up and sent upstream with each batch interval.
    this.#evaluations = new EvaluationTally({
      sink: async (rows) => {
        for (let i = 0; i < rows.length; i += reportBatch)
          await this.#upstream.evaluations(
            rows.slice(i, i + reportBatch).map((r) => ({
              namespace: r.namespace,
              flag: r.flag,
              variant: r.variant,
              count: r.count,
            })),
          );
      },
      clock,
      flushMs: config.reportFlushMs,
      maxRows: 100_000,
      onError,
    });
    this.#app = buildApp({
      limits: config.limits,
      logLevel: config.logLevel,
      ...(options.logStream ? { logStream: options.logStream } : {}),
      isClosing: () => this.#state === 'closing' || this.#state === 'closed',
      retryAfterSeconds: config.retryAfterSeconds,
      tls: config.tls,
      connections: connectionLimitsOf(config),
      onConnectionRefused: () => this.metrics.connectionsRefused.inc(),
    });
    // Watch streams end first, or the HTTP server would wait for them forever when it closes.
    this.#app.addHook('preClose', async () => this.hub.close());
    const access: ViewAccess = {
      limits: config.limits,
      // The relay serves what its own token receives; it must not hand secrets to a client that may not read them.
      secrets: (principal, namespace) => {
        const secrets = allowsSecrets(this.#trust.audience(), namespace);
        if (secrets && !allowsSecrets(principal.scopes, namespace)) {
          throw new HeraldError(
            'forbidden',
            `this relay serves "${namespace}" with secrets, which token ${principal.tokenId} may not read`,
          );
        }
        return secrets;
      },
    };
    const backend: WatchBackend = {
      // A bearer token is checked upstream; a client certificate against this relay's own identities (the control plane's code).
      authenticate: principalResolver(this.#tokens, config.tls?.clientIdentities),
      resolveViews: (principal, requested) => resolveViewRequests(principal, requested, access),
      routing: this.#routing,
      views: this.views,
      hub: this.hub,
      publicKeys: () => this.#trust.published(),
      // The relay checks its client's token; the upstream checks the relay's, and binds the instance to both.
      report: async (principal, input, onBehalfOf) => {
        const report = normaliseReport(principal, input, onBehalfOf);
        this.#reports.accept(report);
        void propagation.observe(report);
      },
      relayReceipts: async (principal, receipts) => {
        for (const r of receipts) requirePermission(principal, 'view', r.namespace);
        this.#receipts.forward(receipts);
      },
      currentRevision: async () => this.#routing.revision,
      countEvaluations: (principal, evaluations) => {
        for (const namespace of new Set(evaluations.map((e) => e.namespace)))
          requirePermission(principal, 'view', namespace);
        this.#evaluations.add(evaluations);
      },
    };
    void this.#app.register(async (routes) => {
      registerWatchRoutes(routes, {
        config,
        backend,
        clock,
        metrics: this.metrics,
        log: this.#app.log,
      });
      // OFREP from the verified cache, with the control plane's route module and the relay's own token checks.
      registerOfrepRoutes(
        routes,
        {
          limits: config.limits,
          authenticate: (request) => backend.authenticate(request),
          view: ofrepViews({
            resolveViews: (principal, requested) => backend.resolveViews(principal, requested),
            routing: this.#routing,
            views: this.views,
          }),
          evaluated: (namespace, served) =>
            this.#evaluations.add(served.map((s) => ({ namespace, flag: s.key, variant: s.variant, count: 1 }))),
        },
        { corsOrigins: config.corsOrigins },
      );
      routes.get('/healthz', { schema: { tags: ['system'], security: [] } }, async () => ({ status: 'ok' }));
      routes.get('/readyz', { schema: { tags: ['system'], security: [] } }, async (_request, reply) => {
        // Ready when it can serve: it trusts keys and has either an upstream or a cache to serve from.
        // Cached routes are loaded when first asked for, so after a restart with no upstream the cache on disk is what counts.
        const reached = this.#upstream.lastContact > 0;
        const ready =
          this.#trust.size > 0 && (reached || this.#routing.size > 0 || (await this.#cache.countViews()) > 0);
        const since = this.#upstream.unreachableSince;
        const down = since === undefined ? undefined : new Date(since).toISOString();
        return reply.code(ready ? 200 : 503).send({
          status: ready ? 'ready' : 'unavailable',
          upstream: down !== undefined ? 'unreachable' : reached ? 'reached' : 'not reached',
          endpoint: this.#upstream.url.href,
          endpointSince: new Date(this.#upstream.endpointSince).toISOString(),
          ...(down === undefined
            ? {}
            : {
                unreachableSince: down,
                detail: ready
                  ? `serving from cache, upstream unreachable since ${down}`
                  : `upstream unreachable since ${down}, and nothing cached to serve`,
              }),
        });
      });
      routes.get('/metrics', { schema: { tags: ['system'], security: [] } }, async (_request, reply) =>
        reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()),
      );
    });
  }

  /** Loads the cache and keys (from the upstream, or the cache when it is away), then listens. */
  async listen(): Promise<string> {
    if (this.#state !== 'built') throw new Error(`cannot listen: the relay is ${this.#state}`);
    await this.#cache.open();
    await this.#tokens.load();
    await this.#trust.load();
    // Fastify logs its own "Server listening at" line at info; Herald says where it listens itself, once.
    const level = this.#app.log.level;
    this.#app.log.level = 'warn';
    try {
      await this.#app.listen({ host: this.config.host, port: this.config.port, backlog: this.config.listenBacklog });
    } finally {
      this.#app.log.level = level;
    }
    this.hub.startHeartbeats(this.config.heartbeatMs, async () => this.#routing.revision);
    this.#keyRefresh = this.#clock.setInterval(
      () => void this.#trust.refresh().catch(() => undefined),
      this.config.keyRefreshMs,
    );
    this.#upstreamProbe = this.#clock.setInterval(
      () => void this.#upstream.probe().catch(() => undefined),
      this.#upstream.probeIntervalMs,
    );
    this.#state = 'listening';
    return this.url;
  }

  get url(): string {
    const address = this.#app.server.address() as AddressInfo | null;
    if (!address) throw new Error('the relay is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${this.config.tls ? 'https' : 'http'}://${host}:${address.port}`;
  }

  /** Graceful: new requests get 503, watch streams end, requests in flight finish (up to the grace period), buffered reports go upstream. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Forceful: every connection is cut now. */
  async destroy(): Promise<void> {
    this.#app.server.closeAllConnections();
    await this.close();
  }

  /** Resolves once the relay has closed: with the error its shutdown met, if any. Never rejects. */
  closed(): Promise<void | Error> {
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    this.#state = 'closing';
    this.#clock.clearInterval(this.#keyRefresh);
    this.#clock.clearInterval(this.#upstreamProbe);
    const grace = this.#clock.setTimeout(() => this.#app.server.closeAllConnections(), this.config.shutdownGraceMs);
    let failure: Error | undefined;
    try {
      await this.#routing.close();
      await this.#app.close();
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      this.#clock.clearTimeout(grace);
      // What clients reported until now still goes upstream; an upstream away loses it, as a crash would.
      await this.#reports.close().catch(() => undefined);
      await this.#evaluations.close().catch(() => undefined);
      await this.#receipts.close().catch(() => undefined);
      // A route or token learned just before the close may still be on its way to the cache folder.
      await this.#cache.settled();
      this.#state = 'closed';
      this.#settleClosed(failure);
    }
  }
}

/** An outage's length for people: "12 s", "3 min 5 s". */
function formatOutage(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}
