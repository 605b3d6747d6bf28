import {
  HeraldClient,
  tokenFromFile,
  type ClientStatus,
  type HealthStatus,
  type ViewChange,
  type ViewSnapshot,
} from '@herald/sdk';
import { viewId } from '@herald/sdk/internal';
import {
  agentDefaults,
  isAgentConfig,
  resolveAgentConfig,
  type AgentConfig,
  type AgentConfigInput,
  type Subscription,
} from './config.js';
import { AgentError } from './errors.js';
import { runCommand } from './exec.js';
import { removeStaleTemps, writeIfChanged, type WriteOutcome } from './files.js';
import { AgentMetrics } from './metrics.js';
import { LocalHttp } from './http.js';
import { render } from './render.js';

interface Target {
  readonly namespace: string;
  readonly labels: readonly string[];
  readonly out: string;
}

/** What the agent does, for logs. A discriminated union on `type`. */
export type AgentEvent =
  /** The file now holds this release (`outcome` written), already did (unchanged), or only needed its mode fixed. */
  | (Target & {
      readonly type: 'file';
      readonly outcome: WriteOutcome;
      readonly seq: number;
      readonly digest: string;
      readonly mode: number;
      readonly via: 'cache' | 'server';
    })
  /** The file could not be written; retried with backoff, and the agent reports itself failing meanwhile. */
  | (Target & {
      readonly type: 'write-failed';
      readonly seq: number;
      readonly reason: string;
      readonly retryInMs: number;
    })
  /** The reload command ran after a change. */
  | (Target & {
      readonly type: 'exec';
      readonly command: string;
      readonly ok: boolean;
      readonly durationMs: number;
      readonly reason: string | undefined;
    })
  /** Health as reported to the control plane changed. */
  | { readonly type: 'health'; readonly status: HealthStatus; readonly detail: string }
  /** The local HTTP endpoint listens at `url`. */
  | { readonly type: 'listening'; readonly url: string }
  /** Temp files a crashed agent left were removed. */
  | { readonly type: 'cleaned'; readonly out: string; readonly count: number }
  /** What the SDK client reports: connection, trust on first use, cache, rejections. */
  | { readonly type: 'client'; readonly status: ClientStatus };

export interface AgentOptions {
  /** Called for every event, synchronously; must not throw. */
  onEvent?: (event: AgentEvent) => void;
}

type State = 'new' | 'starting' | 'running' | 'closing' | 'closed';

interface SubscriptionState {
  readonly sub: Subscription;
  /** The newest snapshot not yet applied; older ones are skipped (a burst becomes one write and one reload). */
  pending: ViewSnapshot | undefined;
  worker: Promise<void> | undefined;
  /** Why this subscription is unhealthy (a write or exec failure), or undefined. */
  problem: string | undefined;
  writeFailures: number;
  retryTimer: NodeJS.Timeout | undefined;
}

const maxRetryMs = 60_000;
const maxDetailLength = 1000;

/**
 * The host agent: follows views through the SDK and, for each subscription, writes the view to a
 * file atomically, runs a reload command after a change, and (optionally) serves the views on a
 * loopback HTTP port.
 *
 * Lifecycle: construct (validates and freezes the config; no I/O but reading the template, trust
 * and token files) → `start()` (loads the verified cache — files are written from it at once when
 * the control plane does not answer — opens the watch, starts the HTTP endpoint) → `close()`
 * (graceful: stops the endpoint, lets a write or reload in progress finish, sends the last report)
 * or `destroy()` (kills a reload in progress, no last report). Both idempotent; `closed()`
 * resolves — never rejects — when the agent has stopped, with the error that stopped it if any.
 *
 * A view that cannot be rendered in a subscription's format (a template key it lacks, two keys
 * with one env name) is refused through the SDK's validate hook: it is reported `rejected` with
 * the reason and the files keep the previous release, as with any other invalid release.
 */
export class Agent implements AsyncDisposable {
  readonly config: AgentConfig;
  readonly #client: HeraldClient;
  readonly #onEvent: (event: AgentEvent) => void;
  readonly #subs: SubscriptionState[];
  readonly #byView = new Map<string, SubscriptionState[]>();
  readonly #http: LocalHttp | undefined;
  /** Aborted by destroy(): kills a reload in progress. */
  readonly #kill = new AbortController();
  #state: State = 'new';
  #changes: AsyncIterableIterator<ViewChange, undefined> | undefined;
  #statuses: AsyncIterableIterator<ClientStatus, undefined> | undefined;
  #loops: Promise<unknown> | undefined;
  #startPromise: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;
  #httpUrl: string | undefined;
  #health: { status: HealthStatus; detail: string } = { status: 'ok', detail: '' };
  readonly #metrics = new AgentMetrics();
  readonly #closed: Promise<Error | undefined>;
  #resolveClosed!: (error: Error | undefined) => void;

  constructor(config: AgentConfig | AgentConfigInput, options: AgentOptions = {}) {
    this.config = isAgentConfig(config) ? config : resolveAgentConfig(config);
    this.#onEvent = options.onEvent ?? (() => undefined);
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#subs = this.config.subscriptions.map((sub) => ({
      sub,
      pending: undefined,
      worker: undefined,
      problem: undefined,
      writeFailures: 0,
      retryTimer: undefined,
    }));
    for (const state of this.#subs) {
      const list = this.#byView.get(state.sub.viewId) ?? [];
      list.push(state);
      this.#byView.set(state.sub.viewId, list);
    }
    const views = [...this.#byView.values()].map((list) => ({
      namespace: (list[0] as SubscriptionState).sub.namespace,
      labels: [...(list[0] as SubscriptionState).sub.labels],
    }));
    try {
      this.#client = new HeraldClient({
        url: this.config.url,
        // A token file is followed (a rotation needs no restart); with only a certificate, no token is sent.
        ...(this.config.tokenFile !== undefined
          ? { token: tokenFromFile(this.config.tokenFile) }
          : this.config.token === ''
            ? {}
            : { token: this.config.token }),
        ...(this.config.tls === undefined ? {} : { tls: this.config.tls }),
        instanceId: this.config.instanceId,
        attributes: this.config.attributes,
        views,
        trustedKeys: this.config.trust === 'tofu' ? 'tofu' : this.config.trust.keys,
        ...(this.config.cacheDir === undefined ? {} : { cacheDir: this.config.cacheDir }),
        reportIntervalMs: this.config.reportIntervalMs,
        validate: (values, view) => this.#check(values, view),
      });
    } catch (error) {
      throw new AgentError('invalid_config', `invalid agent configuration: ${(error as Error).message}`, {
        problems: [(error as Error).message],
        cause: error,
      });
    }
    if (this.config.http) {
      const serveSecrets = this.config.http.serveSecrets;
      this.#http = new LocalHttp({
        views: () => this.#client.snapshots(),
        health: () => this.#health,
        upstream: () => {
          const upstream = this.#client.upstream();
          return { endpoint: upstream.endpoint, since: upstream.endpointSince, connected: upstream.connected };
        },
        serveSecrets,
        metrics: () =>
          this.#metrics.render(
            this.#client.snapshots().map((v) => ({
              namespace: v.namespace,
              labels: v.labels,
              seq: v.snapshot?.seq,
              fromCache: v.snapshot?.source === 'cache',
            })),
            this.#health.status === 'ok',
          ),
      });
    }
  }

  /** The local HTTP endpoint's URL once started (with the port chosen when 0 was configured). */
  get httpUrl(): string | undefined {
    return this.#httpUrl;
  }

  /** Health as last reported: failing while any subscription's last write or reload failed. */
  get health(): { status: HealthStatus; detail: string } {
    return this.#health;
  }

  /** Every view followed, with what is held (undefined before its first values). */
  views(): ReturnType<HeraldClient['snapshots']> {
    return this.#client.snapshots();
  }

  /**
   * Removes temp files a crashed agent left, starts the HTTP endpoint, loads the verified cache
   * (writing the files from it) and opens the watch. Resolves once that is done, not when the
   * control plane answers. Rejects when the HTTP port cannot be had (the agent is then closed).
   */
  start(): Promise<void> {
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  async #start(): Promise<void> {
    if (this.#state !== 'new') throw new AgentError('agent_closed', 'the agent is closed');
    this.#state = 'starting';
    for (const { sub } of this.#subs) {
      const count = await removeStaleTemps(sub.out);
      if (count > 0) this.#emit({ type: 'cleaned', out: sub.out, count });
    }
    if (this.#http && this.config.http) {
      try {
        this.#httpUrl = await this.#http.listen(this.config.http.host, this.config.http.port);
      } catch (error) {
        await this.destroy(error as Error);
        throw new AgentError(
          'invalid_config',
          `the local HTTP endpoint cannot listen on ${this.config.http.host}:${this.config.http.port}: ${(error as Error).message}`,
          { cause: error },
        );
      }
      this.#emit({ type: 'listening', url: this.#httpUrl });
    }
    if (this.#state !== 'starting') throw new AgentError('agent_closed', 'the agent was closed while starting');
    // Iterate before start(): the views loaded from the cache come as changes too.
    this.#changes = this.#client.changes();
    this.#statuses = this.#client.status();
    this.#loops = Promise.all([this.#followChanges(this.#changes), this.#followStatus(this.#statuses)]);
    this.#state = 'running';
    void this.#client.closed().then((error) => {
      // The client ended on its own (not through close()): the agent cannot go on without it.
      if (error && this.#state === 'running') void this.destroy(error);
    });
    await this.#client.start();
  }

  /** Resolves (never rejects) when the agent has stopped: undefined after close(), else the error that stopped it. */
  closed(): Promise<Error | undefined> {
    return this.#closed;
  }

  /** Graceful: stops the endpoint, lets a write or reload in progress finish, sends a last report. Idempotent. */
  close(): Promise<void> {
    this.#closePromise ??= this.#shutdown(undefined, true);
    return this.#closePromise;
  }

  /** Forceful: kills a reload in progress, no last report. Idempotent. */
  destroy(error?: Error): Promise<void> {
    this.#kill.abort(error ?? new AgentError('agent_closed', 'the agent was destroyed'));
    this.#closePromise ??= this.#shutdown(error, false);
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(error: Error | undefined, graceful: boolean): Promise<void> {
    this.#state = 'closing';
    // 1. No new local readers; 2. no new changes taken (a pending one is dropped); 3. the write or
    // reload in progress finishes (a reload is bounded by its timeout); 4. the SDK sends the last
    // report with the final health, and flushes its cache.
    await this.#http?.close();
    for (const state of this.#subs) {
      state.pending = undefined;
      clearTimeout(state.retryTimer);
    }
    await this.#changes?.return?.();
    await Promise.all(this.#subs.flatMap((s) => (s.worker ? [s.worker] : [])));
    if (graceful) await this.#client.close();
    else await this.#client.destroy(error);
    await this.#loops;
    this.#state = 'closed';
    this.#resolveClosed(error);
  }

  #emit(event: AgentEvent): void {
    // File events are measured where the release's issuedAt is known (#apply).
    if (event.type !== 'file') this.#metrics.observe(event, undefined, Date.now());
    try {
      this.#onEvent(event);
    } catch {
      // A logger that throws must not stop the agent.
    }
  }

  /** The validate hook: refuse a view that some subscription cannot render. */
  #check(
    values: Readonly<Record<string, unknown>>,
    view: { namespace: string; labels: readonly string[] },
  ): string | undefined {
    const subs = this.#byView.get(viewIdOf(view)) ?? [];
    const reasons: string[] = [];
    for (const { sub } of subs) {
      try {
        render(sub, values);
      } catch (error) {
        reasons.push(`${sub.out}: ${(error as Error).message}`);
      }
    }
    return reasons.length > 0 ? reasons.join('; ') : undefined;
  }

  async #followChanges(changes: AsyncIterableIterator<ViewChange, undefined>): Promise<void> {
    for await (const change of changes) {
      if (this.#state === 'closing' || this.#state === 'closed') break;
      for (const state of this.#byView.get(viewIdOf(change)) ?? []) {
        state.pending = change.current;
        this.#kick(state);
      }
    }
  }

  async #followStatus(statuses: AsyncIterableIterator<ClientStatus, undefined>): Promise<void> {
    for await (const status of statuses) this.#emit({ type: 'client', status });
  }

  #kick(state: SubscriptionState): void {
    if (state.worker || this.#state !== 'running') return;
    clearTimeout(state.retryTimer);
    state.retryTimer = undefined;
    state.worker = this.#work(state).finally(() => {
      state.worker = undefined;
      // A change that arrived as the worker finished.
      if (state.pending && this.#state === 'running') this.#kick(state);
    });
  }

  async #work(state: SubscriptionState): Promise<void> {
    while (state.pending && this.#state === 'running') {
      const snapshot = state.pending;
      state.pending = undefined;
      await this.#apply(state, snapshot);
    }
  }

  async #apply(state: SubscriptionState, snapshot: ViewSnapshot): Promise<void> {
    const { sub } = state;
    const target = { namespace: sub.namespace, labels: snapshot.labels, out: sub.out };
    const mode = sub.mode ?? (snapshot.manifest.secrets ? agentDefaults.secretFileMode : agentDefaults.fileMode);
    let outcome: WriteOutcome;
    try {
      // The validate hook rendered it already, so this does not fail for a view the SDK accepted.
      outcome = await writeIfChanged(sub.out, render(sub, snapshot.values), mode);
    } catch (error) {
      state.writeFailures += 1;
      const retryInMs = Math.min(maxRetryMs, 1000 * 2 ** (state.writeFailures - 1));
      const reason = (error as Error).message;
      state.problem = `cannot write ${sub.out}: ${reason}`;
      this.#emit({ type: 'write-failed', ...target, seq: snapshot.seq, reason, retryInMs });
      this.#updateHealth();
      state.retryTimer = setTimeout(() => {
        state.retryTimer = undefined;
        state.pending ??= snapshot;
        this.#kick(state);
      }, retryInMs);
      return;
    }
    state.writeFailures = 0;
    if (state.problem?.startsWith('cannot write ')) state.problem = undefined;
    const written: AgentEvent = {
      type: 'file',
      ...target,
      outcome,
      seq: snapshot.seq,
      digest: snapshot.digest,
      mode,
      via: snapshot.source,
    };
    this.#metrics.observe(written, snapshot.issuedAt, Date.now());
    this.#emit(written);
    if (outcome === 'written' && sub.exec !== undefined) {
      const result = await runCommand(sub.exec, {
        timeoutMs: sub.execTimeoutMs,
        signal: this.#kill.signal,
        env: {
          HERALD_NAMESPACE: sub.namespace,
          HERALD_LABELS: snapshot.labels.join(','),
          HERALD_SEQ: String(snapshot.seq),
          HERALD_REVISION: String(snapshot.revision),
          HERALD_DIGEST: snapshot.digest,
          HERALD_OUT: sub.out,
        },
      });
      const reason = result.ok ? undefined : result.reason;
      this.#emit({ type: 'exec', ...target, command: sub.exec, ok: result.ok, durationMs: result.durationMs, reason });
      state.problem =
        reason === undefined ? undefined : `reload for ${sub.out} failed (release ${snapshot.seq}): ${reason}`;
    }
    this.#updateHealth();
  }

  #updateHealth(): void {
    const problems = this.#subs.flatMap((s) => (s.problem ? [s.problem] : []));
    const status: HealthStatus = problems.length > 0 ? 'failing' : 'ok';
    let detail = problems.join('; ');
    if (detail.length > maxDetailLength) detail = `${detail.slice(0, maxDetailLength - 3)}...`;
    if (status === this.#health.status && detail === this.#health.detail) return;
    this.#health = { status, detail };
    if (!this.#client.isClosed) this.#client.reportHealth(status, detail);
    this.#emit({ type: 'health', status, detail });
  }
}

function viewIdOf(view: { namespace: string; labels: readonly string[] }): string {
  return viewId(view.namespace, view.labels);
}

/** Validates `config` (throws `invalid_config` listing every problem) and builds the agent; nothing runs until `start()`. */
export function createAgent(config: AgentConfig | AgentConfigInput, options: AgentOptions = {}): Agent {
  return new Agent(config, options);
}
