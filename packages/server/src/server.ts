import type { AddressInfo } from 'node:net';
import { HeraldError, type Clock, type SecretCipher } from '@herald/core';
import { LocalLeadership, type Leadership, type Store } from '@herald/store';
import { EntryCodec } from './entry-codec.js';
import { resolveServerConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import { buildApp } from './http/app.js';
import { StaticUi } from './http/static-ui.js';
import { principalResolver, type HeraldApp, type RouteContext } from './http/context.js';
import { ServerMetrics } from './metrics.js';
import { RevisionGate } from './revision-gate.js';
import { DeliveryService } from './delivery/delivery-service.js';
import { KeyRing } from './delivery/keyring.js';
import { ReportCollector } from './delivery/reports.js';
import { encodeEvent } from './delivery/sse.js';
import { StoreViewOrigin, ViewService } from './delivery/views.js';
import { RolloutController } from './rollouts/controller.js';
import { RolloutRouting } from './rollouts/rollout-routing.js';
import { RolloutService } from './rollouts/rollout-service.js';
import { heartbeatFrame, WatchHub } from './delivery/watch-hub.js';
import { registerAzureRoutes } from './azure/routes.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerDeliveryRoutes } from './routes/delivery.js';
import { registerWatchRoutes } from './routes/watch.js';
import { registerEntryRoutes } from './routes/entries.js';
import { registerNamespaceRoutes } from './routes/namespaces.js';
import { registerSystemRoutes } from './routes/system.js';
import { createAdminServices, type AdminServices } from './services/admin-services.js';

export interface ServerDependencies {
  store: Store;
  clock: Clock;
  cipher: SecretCipher;
  config?: ServerConfigInput;
  /** Where JSON logs go; stdout when absent. */
  logStream?: NodeJS.WritableStream;
  /** Size of the store in bytes, for the metrics. */
  storeSize?: () => Promise<number>;
  /** Who runs the cluster's singleton jobs; this node alone when absent. Owned by the caller. */
  leadership?: Leadership;
  /** How this node names itself in /v1/cluster and logs. */
  nodeId?: string;
}

type State = 'built' | 'listening' | 'closing' | 'closed';

/**
 * A control-plane node. Built first, then listened (so tests can build without a socket);
 * `close()` is graceful and `destroy()` is forceful, both idempotent. The store belongs to the
 * caller, who closes it after the server.
 */
export class HeraldServer {
  readonly config: Readonly<ServerConfig>;
  /** The admin operations (tokens, audit, namespaces, entries, history), one service each. */
  readonly services: AdminServices;
  readonly metrics: ServerMetrics;
  readonly #app: HeraldApp;
  readonly #store: Store;
  #state: State = 'built';
  #closing: Promise<void> | undefined;
  readonly #unwatch: () => void;
  readonly #revisionGate: RevisionGate;
  readonly keys: KeyRing;
  readonly views: ViewService;
  readonly hub: WatchHub;
  readonly delivery: DeliveryService;
  readonly rollouts: RolloutService;
  readonly #controller: RolloutController;
  readonly #reports: ReportCollector;
  readonly #timers: NodeJS.Timeout[] = [];
  #ownedLeadership: Leadership | undefined;

  constructor(deps: ServerDependencies) {
    this.config = resolveServerConfig(deps.config);
    this.#store = deps.store;
    this.metrics = new ServerMetrics(deps.storeSize ? { storeSize: deps.storeSize } : {});
    const codec = new EntryCodec(deps.cipher, this.config.limits);
    this.services = createAdminServices({
      store: deps.store,
      clock: deps.clock,
      limits: this.config.limits,
      codec,
      tokenCacheMs: this.config.tokenCacheMs,
      onCommit: (_revision, changes) => {
        this.metrics.commits.inc();
        this.metrics.committedChanges.inc(changes);
      },
    });
    this.#unwatch = deps.store.watchRevisions((revision) => this.metrics.revision.set(revision));
    this.#app = buildApp({
      limits: this.config.limits,
      logLevel: this.config.logLevel,
      logFormat: this.config.logFormat,
      slowRequestMs: this.config.slowRequestMs,
      ...(deps.logStream ? { logStream: deps.logStream } : {}),
      isClosing: () => this.#state === 'closing' || this.#state === 'closed',
      retryAfterSeconds: this.config.retryAfterSeconds,
      tls: this.config.tls,
      ui: this.config.uiDir === null ? null : new StaticUi(this.config.uiDir),
    });
    const leadership = deps.leadership ?? new LocalLeadership({ clock: deps.clock });
    if (!deps.leadership) {
      void leadership.start();
      this.#ownedLeadership = leadership;
    }
    this.metrics.trackLeadership(leadership);
    // A node of a cluster that gains or loses leadership starts or stops the rollout controller:
    // worth a line. A single node (SQLite) is always the leader: nothing to tell.
    leadership.onChange((state) =>
      this.#app.log[deps.store.kind === 'sqlite' ? 'debug' : 'info'](
        { fence: state.fence },
        state.leader ? 'leadership gained' : 'leadership lost',
      ),
    );
    const node = { id: deps.nodeId ?? 'local', store: deps.store.kind, leadership };
    const onBackgroundError = (error: unknown) => this.#app.log.error({ err: error }, 'background work failed');
    this.keys = new KeyRing({ store: deps.store, cipher: deps.cipher, clock: deps.clock });
    this.views = new ViewService(new StoreViewOrigin({ store: deps.store, codec, keys: this.keys }));
    const routing = new RolloutRouting(deps.store);
    this.hub = new WatchHub({
      revisions: (listener) => deps.store.watchRevisions(listener),
      routing,
      views: this.views,
      onError: onBackgroundError,
    });
    this.#reports = new ReportCollector({
      sink: (reports) => deps.store.recordReports(reports),
      clock: deps.clock,
      flushMs: this.config.reportFlushMs,
      maxBuffered: this.config.maxBufferedReports,
      onError: onBackgroundError,
    });
    this.delivery = new DeliveryService({
      store: deps.store,
      clock: deps.clock,
      limits: this.config.limits,
      keys: this.keys,
      reports: this.#reports,
      instanceTtlMs: this.config.instanceTtlMs,
    });
    this.rollouts = new RolloutService({
      store: deps.store,
      clock: deps.clock,
      reports: this.#reports,
      instanceTtlMs: this.config.instanceTtlMs,
      onChange: (transition) => {
        if (transition) this.#app.log.info(transition, `rollout ${transition.state}`);
        this.hub.refresh();
      },
    });
    this.#controller = new RolloutController({
      store: deps.store,
      service: this.rollouts,
      leadership,
      onError: onBackgroundError,
    });
    this.keys.onChange(() => this.hub.broadcast(encodeEvent('keys', { keys: this.keys.published() })));
    // Watch streams end first, or the HTTP server would wait for them forever when it closes.
    this.#app.addHook('preClose', async () => this.hub.close());
    const context: RouteContext = {
      config: this.config,
      delivery: this.delivery,
      hub: this.hub,
      rollouts: this.rollouts,
      node,
      services: this.services,
      metrics: this.metrics,
      principal: principalResolver(this.services.tokens),
      currentRevision: () => this.#store.currentRevision(),
      ready: async () => {
        try {
          await this.#store.currentRevision();
          return true;
        } catch {
          return false;
        }
      },
    };
    this.#revisionGate = new RevisionGate(deps.store, this.config.minRevisionWaitMs);
    this.#app.addHook('preHandler', async (request) => {
      const header = request.headers['herald-min-revision'];
      if (header === undefined) return;
      if (typeof header !== 'string' || !/^\d{1,15}$/u.test(header)) {
        throw new HeraldError('invalid_revision', 'Herald-Min-Revision must be a revision number');
      }
      await this.#revisionGate.waitFor(Number(header));
    });
    this.#app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
      this.metrics.requestDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
    // Inside a plugin, so that the routes are declared after @fastify/swagger has loaded (plugins
    // load in order, at ready): routes declared directly here would miss its onRoute hook and
    // /openapi.json would describe no paths at all.
    void this.#app.register(async (routes) => {
      registerSystemRoutes(routes, context);
      registerNamespaceRoutes(routes, context);
      registerEntryRoutes(routes, context);
      registerAdminRoutes(routes, context);
      registerDeliveryRoutes(routes, context);
      registerAzureRoutes(routes, { context, store: deps.store, clock: deps.clock, cipher: deps.cipher, codec });
      registerWatchRoutes(routes, {
        config: this.config,
        watchStreams: this.metrics.watchStreams,
        log: this.#app.log,
        backend: {
          authenticate: (request) => context.principal(request),
          resolveViews: (principal, requested) => this.delivery.resolveViews(principal, requested),
          routing,
          views: this.views,
          hub: this.hub,
          publicKeys: () => this.keys.published(),
          report: (principal, input) => this.delivery.report(principal, input),
          currentRevision: () => deps.store.currentRevision(),
        },
      });
    });
  }

  /** The fastify instance, for in-process tests with `inject()`. */
  get app(): HeraldApp {
    return this.#app;
  }

  /** Starts listening; resolves with the base URL (the real port when port 0 was asked for). */
  async listen(): Promise<string> {
    if (this.#state !== 'built') throw new Error(`cannot listen: the server is ${this.#state}`);
    await this.keys.load();
    await this.#app.listen({ host: this.config.host, port: this.config.port });
    const heartbeat = setInterval(() => {
      void this.#store.currentRevision().then(
        (revision) => this.hub.broadcast(heartbeatFrame(revision, Date.now())),
        () => undefined,
      );
    }, this.config.heartbeatMs);
    const keyRefresh = setInterval(() => void this.keys.refresh().catch(() => undefined), this.config.keyRefreshMs);
    // Rollout steps taken by the leader (maybe another node) move no revision: re-read routes on a timer.
    const routeRefresh = setInterval(() => this.hub.refresh(), this.config.rolloutTickMs);
    this.#controller.start(this.config.rolloutTickMs);
    for (const timer of [heartbeat, keyRefresh, routeRefresh]) {
      timer.unref();
      this.#timers.push(timer);
    }
    this.#state = 'listening';
    return this.url;
  }

  get url(): string {
    const address = this.#app.server.address() as AddressInfo | null;
    if (!address) throw new Error('the server is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${this.config.tls ? 'https' : 'http'}://${host}:${address.port}`;
  }

  /** Graceful: new requests get 503, requests in flight finish (up to the grace period), then the sockets close. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Forceful: every connection is cut now. */
  async destroy(): Promise<void> {
    this.#app.server.closeAllConnections();
    await this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    this.#state = 'closing';
    for (const timer of this.#timers) clearInterval(timer);
    this.#unwatch();
    this.#revisionGate.close();
    const grace = setTimeout(() => this.#app.server.closeAllConnections(), this.config.shutdownGraceMs);
    grace.unref();
    try {
      await this.#app.close();
    } finally {
      clearTimeout(grace);
      await this.#controller.close();
      await this.#reports.close();
      await this.#ownedLeadership?.close();
      this.#state = 'closed';
    }
  }
}

export function createServer(deps: ServerDependencies): HeraldServer {
  return new HeraldServer(deps);
}
