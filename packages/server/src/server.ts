import type { AddressInfo } from 'node:net';
import { HeraldError, type SecretCipher, type TimerClock } from '@herald/core';
import type { Leadership, Store } from '@herald/store';
import { LocalLeadership } from '@herald/store/local-leadership';
import { EntryCodec } from './entry-codec.js';
import { resolveServerConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import { buildApp } from './http/app.js';
import { StaticUi } from './http/static-ui.js';
import { principalResolver, type HeraldApp, type RouteContext } from './http/context.js';
import { connectionLimitsOf } from './http/connection-limits.js';
import type { EarlyListener } from './http/early-listener.js';
import { WatchAdmission } from './http/watch-admission.js';
import { ServerMetrics } from './metrics.js';
import { RevisionGate } from './revision-gate.js';
import { DeliveryService } from './delivery/delivery-service.js';
import { KeyRing } from './delivery/keyring.js';
import { InstancePruning } from './delivery/instance-pruning.js';
import { InstanceRegistry } from './delivery/instance-registry.js';
import { ReportCollector, writeReports } from './delivery/reports.js';
import { PropagationMeter, storeReleaseTimes } from './delivery/propagation.js';
import { registerFleetGauges } from './delivery/fleet-gauges.js';
import { ReleaseTraces } from './delivery/release-trace.js';
import { registerNodeGauges } from './node-gauges.js';
import { AuditChainCheck } from './services/audit-chain-check.js';
import { ReleaseService } from './delivery/release-service.js';
import { StoreViewOrigin, ViewService } from './delivery/views.js';
import { RolloutController } from './rollouts/controller.js';
import { ObservationWindows } from './rollouts/observation-windows.js';
import { GateChecks } from './rollouts/gate-checks.js';
import { RolloutRouting } from './rollouts/rollout-routing.js';
import { RolloutService } from './rollouts/rollout-service.js';
import { ChangeControlSettings } from './change-control/change-control-settings.js';
import { ChangeRequestService } from './change-control/change-requests.js';
import { ScheduleService } from './change-control/schedules.js';
import { WatchHub } from './delivery/watch-hub.js';
import { WatchWorkers } from './delivery/workers/watch-workers.js';
import { registerAzureRoutes } from './azure/routes.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerConsoleRoutes } from './routes/console.js';
import { registerChangeControlRoutes } from './routes/change-control.js';
import { registerDeliveryRoutes } from './routes/delivery.js';
import { registerWatchRoutes } from './routes/watch.js';
import { registerEntryRoutes } from './routes/entries.js';
import { registerNamespaceRoutes } from './routes/namespaces.js';
import { registerOfrepRoutes } from './routes/ofrep.js';
import { registerFlagRoutes } from './routes/flags.js';
import { FlagSummaryService } from './services/flag-summary-service.js';
import { FlagUsageService } from './services/flag-usage-service.js';
import { ofrepViews } from './flags/ofrep-views.js';
import { registerSystemRoutes } from './routes/system.js';
import { createAdminServices, type AdminServices } from './services/admin-services.js';

export interface ServerDependencies {
  store: Store;
  /** Time and every timer of the node (heartbeats, refreshes, long polls, report batches). */
  clock: TimerClock;
  cipher: SecretCipher;
  config?: ServerConfigInput;
  /** Where JSON logs go; stdout when absent. */
  logStream?: NodeJS.WritableStream;
  /** Size of the store in bytes, for the metrics. */
  storeSize?: () => Promise<number>;
  /** The SQLite data folder, for the disk-space and fsync metrics. */
  dataDir?: string;
  /** Who runs the cluster's singleton jobs; this node alone when absent. Owned by the caller. */
  leadership?: Leadership;
  /** How this node names itself in /v1/cluster and logs. */
  nodeId?: string;
  /**
   * The node's socket, bound before this server was built (listenEarly): `listen()` takes it over
   * instead of binding; its address, TLS and connection limits are the ones it was made with.
   */
  listener?: EarlyListener;
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
  readonly #clock: TimerClock;
  #state: State = 'built';
  #closing: Promise<void> | undefined;
  readonly #unwatch: () => void;
  readonly #revisionGate: RevisionGate;
  readonly keys: KeyRing;
  readonly views: ViewService;
  readonly hub: WatchHub;
  readonly releases: ReleaseService;
  readonly delivery: DeliveryService;
  readonly rollouts: RolloutService;
  readonly changeSettings: ChangeControlSettings;
  readonly changeRequests: ChangeRequestService;
  readonly schedules: ScheduleService;
  readonly #controller: RolloutController;
  readonly #reports: ReportCollector;
  readonly #pruning: InstancePruning;
  readonly flagUsage: FlagUsageService;
  readonly #auditCheck: AuditChainCheck;
  #keyRefresh: unknown;
  #ownedLeadership: Leadership | undefined;
  readonly #watchWorkers: WatchWorkers | undefined;

  constructor(deps: ServerDependencies) {
    this.config = resolveServerConfig(deps.config);
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.metrics = new ServerMetrics(deps.storeSize ? { storeSize: deps.storeSize } : {});
    const codec = new EntryCodec(deps.cipher, this.config.limits);
    this.services = createAdminServices({
      store: deps.store,
      clock: deps.clock,
      limits: this.config.limits,
      codec,
      tokenCacheMs: this.config.tokenCacheMs,
      onCommit: (_revision, changes, seconds) => {
        this.metrics.commits.inc();
        this.metrics.commitDuration.observe(seconds);
        this.metrics.committedChanges.inc(changes);
      },
      gate: () => this.changeRequests,
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
      connections: connectionLimitsOf(this.config),
      listener: deps.listener,
      onConnectionRefused: () => this.metrics.connectionsRefused.inc(),
      deadline: { ms: this.config.requestDeadlineMs, clock: deps.clock },
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
    this.hub = new WatchHub({ routing, views: this.views, clock: deps.clock, onError: onBackgroundError });
    // The only thing that makes releases and wakes the hub (the change feed included): see ReleaseService.
    this.releases = new ReleaseService({ store: deps.store, hub: this.hub, clock: deps.clock });
    this.#reports = new ReportCollector({
      sink: (reports) => writeReports(deps.store, reports),
      clock: deps.clock,
      flushMs: this.config.reportFlushMs,
      maxBuffered: this.config.maxBufferedReports,
      onError: onBackgroundError,
    });
    const instances = new InstanceRegistry({
      store: deps.store,
      maxPerNamespace: this.config.maxInstancesPerNamespace,
      onRefusal: (code) => this.metrics.instanceRefusals.inc({ code }),
    });
    this.#pruning = new InstancePruning({
      store: deps.store,
      registry: instances,
      leadership,
      clock: deps.clock,
      ttlMs: this.config.instanceTtlMs,
      onPruned: (count) => this.metrics.instancesPruned.inc(count),
      onError: onBackgroundError,
    });
    const propagation = new PropagationMeter({
      histogram: this.metrics.propagation,
      tier: 'control-plane',
      clock: deps.clock,
      releaseTimes: storeReleaseTimes(deps.store),
    });
    this.delivery = new DeliveryService({
      store: deps.store,
      clock: deps.clock,
      limits: this.config.limits,
      keys: this.keys,
      reports: this.#reports,
      instances,
      instanceTtlMs: this.config.instanceTtlMs,
      onAccepted: (report) => void propagation.observe(report),
    });
    this.flagUsage = new FlagUsageService({
      store: deps.store,
      codec,
      clock: deps.clock,
      flushMs: this.config.reportFlushMs,
      onError: onBackgroundError,
    });
    const flagSummaries = new FlagSummaryService({
      store: deps.store,
      codec,
      clock: deps.clock,
      usage: this.flagUsage,
      limits: this.config.limits,
    });
    const windows = new ObservationWindows();
    this.changeSettings = new ChangeControlSettings({ store: deps.store, clock: deps.clock });
    this.rollouts = new RolloutService({
      store: deps.store,
      clock: deps.clock,
      reports: this.#reports,
      instanceTtlMs: this.config.instanceTtlMs,
      releases: this.releases,
      windows,
      checks: new GateChecks({
        clock: deps.clock,
        prometheusUrl: this.config.prometheusUrl,
        queryTimeoutMs: this.config.prometheusTimeoutMs,
      }),
      onTransition: (transition) => this.#app.log.info(transition, `rollout ${transition.state}`),
      onObserved: (state, observation) => this.metrics.trackRollout(state, observation),
      hold: (namespace, rolloutId) => this.changeSettings.holdOf(namespace, rolloutId),
    });
    this.changeRequests = new ChangeRequestService({
      store: deps.store,
      clock: deps.clock,
      codec,
      settings: this.changeSettings,
      entries: () => this.services.entries,
      release: () => (principal, namespace, note, supersede, force) =>
        this.rollouts.startRelease(principal, namespace, note, supersede, force),
    });
    this.schedules = new ScheduleService({
      store: deps.store,
      clock: deps.clock,
      changeRequests: this.changeRequests,
      leadership,
      onError: onBackgroundError,
    });
    this.#controller = new RolloutController({
      store: deps.store,
      service: this.rollouts,
      leadership,
      clock: deps.clock,
      windows,
      onError: onBackgroundError,
      onPass: (durationMs) => this.metrics.rolloutPassDuration.observe(durationMs / 1000),
    });
    this.#auditCheck = new AuditChainCheck({
      verify: () => this.services.audit.verifyChain(),
      leadership,
      clock: deps.clock,
      onResult: (result, at) => {
        this.metrics.auditChainVerified.set(result.ok ? 1 : 0);
        this.metrics.auditChainCheckedAt.set(at / 1000);
        if (!result.ok) this.#app.log.error({ firstBad: result.firstBad }, 'the audit chain does not verify');
      },
      onError: onBackgroundError,
    });
    this.keys.onChange(() => this.hub.publishKeys(this.keys.published()));
    this.#watchWorkers = watchWorkersOf(this.config, deps.clock, this.metrics, this.#app.log);
    // Watch streams end first, or the HTTP server would wait for them forever when it closes.
    this.#app.addHook('preClose', async () => this.hub.close());
    const context: RouteContext = {
      config: this.config,
      delivery: this.delivery,
      releases: this.releases,
      rollouts: this.rollouts,
      traces: new ReleaseTraces({
        store: deps.store,
        clock: deps.clock,
        instanceTtlMs: this.config.instanceTtlMs,
        flush: () => this.#reports.flush(),
      }),
      changeSettings: this.changeSettings,
      changeRequests: this.changeRequests,
      schedules: this.schedules,
      node,
      services: this.services,
      metrics: this.metrics,
      principal: principalResolver(this.services.tokens, this.config.tls?.clientIdentities),
      currentRevision: () => this.#store.currentRevision(),
      // A live round trip with a deadline of its own: a database that stopped answering (paused,
      // blackholed) makes the node unready within it, rather than holding the probe.
      ready: async () => {
        let timer: unknown;
        const late = new Promise<false>((resolve) => {
          timer = deps.clock.setTimeout(() => resolve(false), this.config.readinessTimeoutMs);
        });
        try {
          const answered = this.#store.currentRevision().then(
            () => true,
            () => false,
          );
          return await Promise.race([answered, late]);
        } finally {
          deps.clock.clearTimeout(timer);
        }
      },
    };
    registerFleetGauges(this.metrics.registry, {
      store: deps.store,
      clock: deps.clock,
      instanceTtlMs: this.config.instanceTtlMs,
      staleAfterMs: this.config.staleAfterMs,
      timeoutMs: this.config.readinessTimeoutMs,
      flush: () => this.#reports.flush(),
    });
    registerNodeGauges(this.metrics.registry, {
      clock: deps.clock,
      storeKind: deps.store.kind,
      ready: () => context.ready(),
      dataDir: deps.dataDir,
      fsyncDuration: this.metrics.fsyncDuration,
      signingKeyCreatedAt: () => this.keys.published().at(-1)?.createdAt,
      tlsCert: this.config.tls?.cert,
    });
    this.#revisionGate = new RevisionGate(deps.store, this.config.minRevisionWaitMs, deps.clock);
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
      registerConsoleRoutes(routes, context);
      registerChangeControlRoutes(routes, context);
      registerAzureRoutes(routes, { context, store: deps.store, clock: deps.clock, cipher: deps.cipher, codec });
      registerOfrepRoutes(
        routes,
        {
          limits: this.config.limits,
          authenticate: (request) => context.principal(request),
          view: ofrepViews({
            resolveViews: (principal, requested) => this.delivery.resolveViews(principal, requested),
            routing,
            views: this.views,
          }),
          evaluated: (namespace, served) => this.flagUsage.served(namespace, served),
        },
        { corsOrigins: this.config.corsOrigins },
      );
      registerFlagRoutes(routes, context, flagSummaries);
      registerWatchRoutes(routes, {
        config: this.config,
        clock: deps.clock,
        metrics: this.metrics,
        log: this.#app.log,
        workers: this.#watchWorkers,
        // The early socket's pacing goes on where it was: its bookings hold past the start.
        admission:
          deps.listener?.watchAdmission ??
          new WatchAdmission({ perSecond: this.config.watchAdmissionsPerSecond, clock: deps.clock }),
        backend: {
          authenticate: (request) => context.principal(request),
          resolveViews: (principal, requested) => this.delivery.resolveViews(principal, requested),
          routing,
          views: this.views,
          hub: this.hub,
          publicKeys: () => this.keys.published(),
          report: (principal, input, onBehalfOf) => this.delivery.report(principal, input, onBehalfOf),
          relayReceipts: (principal, receipts) => this.delivery.relayReceipts(principal, receipts),
          currentRevision: () => deps.store.currentRevision(),
          countEvaluations: (principal, evaluations) => this.flagUsage.count(principal, evaluations),
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
    // Fastify logs its own "Server listening at" line at info; Herald says where it listens itself, once.
    const level = this.#app.log.level;
    this.#app.log.level = 'warn';
    try {
      await this.#app.listen({ host: this.config.host, port: this.config.port, backlog: this.config.listenBacklog });
    } finally {
      this.#app.log.level = level;
    }
    this.#watchWorkers?.start();
    this.hub.startHeartbeats(this.config.heartbeatMs, () => this.#store.currentRevision());
    this.#keyRefresh = this.#clock.setInterval(
      () => void this.keys.refresh().catch(() => undefined),
      this.config.keyRefreshMs,
    );
    // Other nodes of a shared store release and step rollouts without moving a revision; see ReleaseService.
    this.releases.start({ sharedStore: this.#store.kind !== 'sqlite', routeRefreshMs: this.config.rolloutTickMs });
    // A pass that comes this late (a stalled store, an overloaded node) has not been watching: a gap.
    this.#controller.start(this.config.rolloutTickMs, Math.max(5_000, 10 * this.config.rolloutTickMs));
    this.#pruning.start(this.config.instancePruneMs);
    this.#auditCheck.start(this.config.auditVerifyMs);
    this.schedules.start(this.config.rolloutTickMs);
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
    this.#clock.clearInterval(this.#keyRefresh);
    this.releases.close();
    this.#unwatch();
    this.#revisionGate.close();
    // Past the grace, the watch workers go too: the HTTP server waits for the sockets they hold.
    const grace = this.#clock.setTimeout(() => {
      this.#app.server.closeAllConnections();
      void this.#watchWorkers?.close(0);
    }, this.config.shutdownGraceMs);
    try {
      await this.#app.close();
    } finally {
      this.#clock.clearTimeout(grace);
      await this.#watchWorkers?.close();
      await this.#controller.close();
      await this.schedules.close();
      await this.#pruning.close();
      await this.#auditCheck.close();
      await this.#reports.close();
      await this.flagUsage.close().catch(() => undefined);
      await this.#ownedLeadership?.close();
      this.#state = 'closed';
    }
  }
}

/** The node's watch workers (config watchWorkers), with their metrics; none at 0. */
function watchWorkersOf(
  config: Readonly<ServerConfig>,
  clock: TimerClock,
  metrics: ServerMetrics,
  log: HeraldApp['log'],
): WatchWorkers | undefined {
  if (config.watchWorkers === 0) return undefined;
  if (config.tls)
    log.warn('watchWorkers: TLS watch streams stay in this process (a TLS session cannot move between processes)');
  const workers = new WatchWorkers({
    count: config.watchWorkers,
    maxStreamBufferBytes: config.maxStreamBufferBytes,
    clock,
    onExit: (worker, detail) =>
      log.error({ worker, ...detail }, 'watch worker exited; its clients reconnect; restarting it'),
  });
  metrics.trackWatchWorkers(workers);
  return workers;
}

export function createServer(deps: ServerDependencies): HeraldServer {
  return new HeraldServer(deps);
}
