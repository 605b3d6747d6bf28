// The watch client: its public API, its lifecycle and the state of its views (what is held, how
// a view is accepted, refused or loaded from the cache). One cohesive thing, a little over 500
// lines; what it composes has its own file: the stream (stream.ts), the reporter (reporter.ts),
// the keys (client-keys.ts), the types it shows (client-types.ts).
import { type Manifest, type ViewErrorData, type ViewValues } from '@herald/core';
import { DiskCache } from './cache.js';
import { Channel } from './channel.js';
import { ClientKeys } from './client-keys.js';
import type { ClientStatus, ViewChange, ViewName, ViewSelector, ViewSnapshot } from './client-types.js';
import { Deferred } from './deferred.js';
import { abortError, HeraldClientError } from './errors.js';
import {
  resolveOptions,
  viewId,
  type HealthStatus,
  type HeraldClientOptions,
  type ResolvedOptions,
  type ResolvedView,
} from './options.js';
import { maxReasonLength, Reporter, type ReportedView } from './reporter.js';
import { WatchStream, type ViewOutcome } from './stream.js';
import {
  changedKeys,
  verifyDelta,
  verifySnapshot,
  type RejectionCode,
  type Verdict,
  type VerifiedView,
} from './verify.js';

interface Outcome {
  seq: number;
  digest: string;
  status: 'applied' | 'rejected';
  reason?: string;
  /** When this instance received and applied a release from the server (its clock): what propagation is measured by. */
  receivedAt?: number;
  appliedAt?: number;
}

interface ViewState {
  readonly ref: ResolvedView;
  held: (VerifiedView & { snapshot: ViewSnapshot }) | undefined;
  /** The last release refused since the held one: a delta from it means the server moved on, not an attack. */
  refused: { seq: number; digest: string } | undefined;
  outcome: Outcome | undefined;
}

type LifeState = 'new' | 'starting' | 'running' | 'closing' | 'closed';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

function emptyValues(): Readonly<ViewValues> {
  return Object.freeze(Object.create(null) as ViewValues);
}

/**
 * Watches views of a Herald control plane (or relay) and keeps their verified values.
 *
 * ```ts
 * const client = new HeraldClient({ url, token, instanceId, views: [{ namespace: 'payments', labels: ['prod'] }], trustedKeys, cacheDir });
 * await client.start();
 * await client.ready();
 * const max = client.get<number>('payments', 'db/pool/max');
 * for await (const change of client.changes()) { … }
 * await client.close();
 * ```
 *
 * Lifecycle: `new` (no I/O) → `start()` (loads the verified cache, opens the stream) → `close()`
 * (graceful: stops the stream, sends a last report, waits for cache writes) or `destroy(err)`
 * (at once). Both are idempotent and return the same promise on every call. `closed()` resolves —
 * never rejects — with undefined after `close()`, or with the error that ended the client.
 */
export class HeraldClient implements AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #views: ViewState[];
  readonly #byId = new Map<string, ViewState>();
  readonly #keys: ClientKeys;
  readonly #cache: DiskCache | undefined;
  readonly #stream: WatchStream;
  readonly #reporter: Reporter;
  readonly #changeChannels = new Set<{ channel: Channel<ViewChange>; namespace: string | undefined }>();
  readonly #statusChannels = new Set<Channel<ClientStatus>>();
  readonly #ready = new Deferred<void>();
  readonly #closed = new Deferred<void | Error>();
  /** Aborted when the client stops: unblocks every wait inside it. */
  readonly #lifetime = new AbortController();

  #state: LifeState = 'new';
  #startPromise: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;
  #runLoop: Promise<void> | undefined;
  #abortListener: (() => void) | undefined;

  constructor(options: HeraldClientOptions) {
    this.#options = resolveOptions(options);
    this.#views = this.#options.views.map((ref) => ({ ref, held: undefined, refused: undefined, outcome: undefined }));
    for (const view of this.#views) this.#byId.set(view.ref.id, view);
    this.#cache = this.#options.cacheDir === undefined ? undefined : new DiskCache(this.#options.cacheDir);
    const status = (event: ClientStatus): void => this.#emitStatus(event);
    this.#keys = new ClientKeys({ options: this.#options, cache: this.#cache, status, signal: this.#lifetime.signal });
    this.#stream = new WatchStream(this.#options, {
      watchViews: () => this.#views.map((view) => this.#watchRequestView(view)),
      onHelloKeys: (keys) => this.#keys.presented(keys),
      onKeys: (keys) => this.#keys.learn(keys),
      onView: (kind, payload) => this.#onView(kind, payload),
      onViewError: (data) => this.#onViewError(data),
      status: (event) => {
        status(event);
        // Whatever was sent while the stream was down may have been lost (a control plane that
        // restarted, a relay that was cut off): say where we are as soon as we are back.
        if (event.type === 'connected') this.#reporter.soon();
      },
    });
    this.#reporter = new Reporter({ options: this.#options, views: () => this.#reportedViews(), status });
  }

  /**
   * Loads the verified cache (every file re-verified; `ready()` resolves at once when every view
   * has one), then opens the watch stream and starts reporting; resolves once the cache is loaded,
   * not when the server answers. Calling it again returns the same promise. Rejects with
   * `client_closed` after close, or with the signal's reason when the `signal` option is aborted.
   */
  start(): Promise<void> {
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  async #start(): Promise<void> {
    if (this.#state !== 'new') throw new HeraldClientError('client_closed', 'the client is closed');
    const signal = this.#options.signal;
    if (signal?.aborted) {
      const reason = abortError(signal.reason);
      await this.destroy(reason);
      throw reason;
    }
    const stopped = (): Error =>
      signal?.aborted
        ? abortError(signal.reason)
        : new HeraldClientError('client_closed', 'the client was closed while starting');
    if (signal) {
      const listener = (): void => void this.destroy(abortError(signal.reason));
      signal.addEventListener('abort', listener, { once: true });
      this.#abortListener = () => signal.removeEventListener('abort', listener);
    }
    this.#state = 'starting';
    await this.#loadCache();
    if (this.#state !== 'starting') throw stopped();
    this.#state = 'running';
    this.#runLoop = this.#stream.run().catch((error: unknown) => {
      // A bug in the loop must not go unnoticed, nor leave the client half alive.
      void this.destroy(error instanceof Error ? error : new Error(String(error)));
    });
    // An observer never reports: the reporter stays stopped, so soon() and close() send nothing.
    if (!this.#options.observe) this.#reporter.start();
  }

  /**
   * Resolves once every view has verified values: at once when they came from the cache, else on
   * the first verified view from the server for each. Rejects with `client_closed` when the client
   * closes first, or with `options.signal`'s reason when that aborts first.
   */
  ready(options: { signal?: AbortSignal } = {}): Promise<void> {
    const signal = options.signal;
    if (!signal || this.#ready.settled) return this.#ready.promise;
    if (signal.aborted) return Promise.reject(abortError(signal.reason));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(abortError(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#ready.promise.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (error: Error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /**
   * The current accepted value of `key`, or undefined when the view has no such key or no values
   * yet. `T` is not checked at run time: validate the shape in the `validate` hook. The value is
   * deeply frozen. Throws `unknown_view` for a view not watched, `ambiguous_view` when the
   * namespace is watched with several label stacks and `labels` is not given.
   */
  get<T = unknown>(namespace: string, key: string, selector: ViewSelector = {}): T | undefined {
    const values = this.#find(namespace, selector.labels).held?.values;
    if (!values || !Object.hasOwn(values, key)) return undefined;
    return values[key] as T;
  }

  /** All current values of a view (deeply frozen), or undefined before it has any. */
  values(namespace: string, labels?: readonly string[]): Readonly<ViewValues> | undefined {
    return this.#find(namespace, labels).held?.snapshot.values;
  }

  /** seq, revision, digest, manifest and values of what is held for a view, or undefined. */
  snapshot(namespace: string, labels?: readonly string[]): ViewSnapshot | undefined {
    return this.#find(namespace, labels).held?.snapshot;
  }

  /** Every watched view with what is held (undefined before its first values), in option order. */
  snapshots(): Array<ViewName & { readonly snapshot: ViewSnapshot | undefined }> {
    return this.#views.map((view) => ({
      namespace: view.ref.namespace,
      labels: view.ref.labels,
      snapshot: view.held?.snapshot,
    }));
  }

  /**
   * Whether a stream is up, the freshest revision the upstream told of (hello or heartbeat), and
   * the endpoint in use (`endpoint`, since `endpointSince` ms since the epoch).
   */
  upstream(): {
    connected: boolean;
    revision: number | undefined;
    heardAt: number | undefined;
    endpoint: string;
    endpointSince: number;
  } {
    const upstream = this.#stream.upstream;
    const endpoints = this.#options.endpoints;
    return {
      connected: this.#stream.connected,
      revision: upstream?.revision,
      heardAt: upstream?.heardAt,
      endpoint: endpoints.current.href,
      endpointSince: endpoints.since,
    };
  }

  /**
   * Accepted views from now on, in order (including those loaded from the cache by `start()`, when
   * iterated before it). Leaving the loop detaches the iterator; it ends when the client closes.
   * Each iterator buffers what its consumer has not read yet.
   */
  changes(options: { namespace?: string } = {}): AsyncIterableIterator<ViewChange, undefined> {
    const entry = { channel: undefined as unknown as Channel<ViewChange>, namespace: options.namespace };
    entry.channel = new Channel<ViewChange>(() => this.#changeChannels.delete(entry));
    if (this.#state === 'closed') entry.channel.end();
    else this.#changeChannels.add(entry);
    return entry.channel;
  }

  /** Status events from now on; the last is `closed`, after which the iterator ends. */
  status(): AsyncIterableIterator<ClientStatus, undefined> {
    const channel: Channel<ClientStatus> = new Channel<ClientStatus>(() => this.#statusChannels.delete(channel));
    if (this.#state === 'closed') channel.end();
    else this.#statusChannels.add(channel);
    return channel;
  }

  /**
   * Counts evaluations of a flag's variant (the OpenFeature provider does, per evaluation); the
   * counts go with the next report, for `herald flags`. An observer reports nothing.
   */
  countEvaluation(namespace: string, flag: string, variant: string, count = 1): void {
    this.#reporter.countEvaluation(namespace, flag, variant, count);
  }

  /** Sets the health sent with reports, and sends a report soon. */
  reportHealth(status: HealthStatus, detail = ''): void {
    this.#reporter.setHealth(status, detail);
  }

  /** True once close() or destroy() has begun. */
  get isClosed(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Resolves (never rejects) when the client has closed: undefined after close(), else the error that ended it. */
  closed(): Promise<void | Error> {
    return this.#closed.promise;
  }

  /** Graceful: stops the stream, sends a last report (at most ~2 s), waits for cache writes. Idempotent. */
  close(): Promise<void> {
    this.#closePromise ??= this.#shutdown(undefined, true);
    return this.#closePromise;
  }

  /** Forceful: stops everything at once, no last report. `closed()` resolves with `error`. Idempotent. */
  destroy(error?: Error): Promise<void> {
    this.#reporter.abort(error);
    this.#closePromise ??= this.#shutdown(error, false);
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ── lifecycle ───────────────────────────────────────────────────────────────────────────────

  async #shutdown(error: Error | undefined, graceful: boolean): Promise<void> {
    this.#state = 'closing';
    this.#abortListener?.();
    this.#abortListener = undefined;
    this.#lifetime.abort(error ?? new HeraldClientError('client_closed', 'the client is closed'));
    this.#stream.stop(new HeraldClientError('client_closed', 'the client is closed'));
    this.#reporter.stop();
    await this.#runLoop;
    await this.#reporter.finish(graceful, error);
    await this.#cache?.flush();
    this.#state = 'closed';
    if (!this.#ready.settled)
      this.#ready.reject(
        new HeraldClientError('client_closed', 'the client closed before every view was ready', { cause: error }),
      );
    this.#emitStatus({ type: 'closed', error });
    for (const { channel } of this.#changeChannels) channel.end();
    for (const channel of this.#statusChannels) channel.end();
    this.#changeChannels.clear();
    this.#statusChannels.clear();
    this.#closed.resolve(error);
  }

  #find(namespace: string, labels: readonly string[] | undefined): ViewState {
    if (labels !== undefined) {
      const view = this.#byId.get(viewId(namespace, labels));
      if (!view) throw new HeraldClientError('unknown_view', `the client does not watch ${viewId(namespace, labels)}`);
      return view;
    }
    const matches = this.#views.filter((view) => view.ref.namespace === namespace);
    if (matches.length === 0)
      throw new HeraldClientError('unknown_view', `the client does not watch namespace "${namespace}"`);
    if (matches.length > 1)
      throw new HeraldClientError(
        'ambiguous_view',
        `namespace "${namespace}" is watched with ${matches.length} label stacks; pass labels`,
      );
    return matches[0] as ViewState;
  }

  #emitStatus(status: ClientStatus): void {
    for (const channel of this.#statusChannels) channel.push(status);
  }

  #emitChange(change: ViewChange): void {
    for (const { channel, namespace } of this.#changeChannels) {
      if (namespace === undefined || namespace === change.namespace) channel.push(change);
    }
  }

  #checkReady(): void {
    if (!this.#ready.settled && this.#views.every((view) => view.held !== undefined)) this.#ready.resolve();
  }

  // ── cache ───────────────────────────────────────────────────────────────────────────────────

  async #loadCache(): Promise<void> {
    const cache = this.#cache;
    if (!cache) return;
    try {
      await cache.open();
    } catch (error) {
      this.#emitStatus({ type: 'cache-error', error: error as Error });
      return;
    }
    const keys = await cache.readKeys();
    if (keys.status === 'ok') this.#keys.restore(keys.value);
    else if (keys.status === 'ignored')
      this.#emitStatus({ type: 'cache-ignored', file: keys.file, code: keys.code, reason: keys.reason });
    const stale: Array<ViewName & { seq: number; digest: string; issuedAt: number }> = [];
    for (const view of this.#views) {
      const read = await cache.readView(view.ref, this.#keys.trust);
      if (read.status === 'missing') continue;
      if (read.status === 'ignored') {
        this.#emitStatus({ type: 'cache-ignored', file: read.file, code: read.code, reason: read.reason });
        continue;
      }
      // The application's rules may have changed since the file was written: check them again.
      const refusal = await this.#validate(view, read.value);
      if (refusal !== undefined) {
        this.#emitStatus({
          type: 'cache-ignored',
          file: cache.viewPath(view.ref),
          code: 'validation_failed',
          reason: refusal,
        });
        continue;
      }
      this.#accept(view, read.value, 'cache');
      const m = read.value.manifest;
      stale.push({
        namespace: view.ref.namespace,
        labels: view.ref.labels,
        seq: m.seq,
        digest: m.digest,
        issuedAt: m.issuedAt,
      });
    }
    if (stale.length > 0) this.#emitStatus({ type: 'stale-cache', views: stale });
  }

  async #persistView(view: ViewState, verified: VerifiedView): Promise<void> {
    if (!this.#cache) return;
    try {
      await this.#cache.writeView(view.ref, verified);
    } catch (error) {
      this.#emitStatus({ type: 'cache-error', error: error as Error });
    }
  }

  // ── accepting and refusing ──────────────────────────────────────────────────────────────────

  /** Runs the validate hook; returns the refusal reason, or undefined to accept. */
  async #validate(view: ViewState, candidate: VerifiedView): Promise<string | undefined> {
    const hook = this.#options.validate;
    if (!hook) return undefined;
    const m = candidate.manifest;
    // candidate.values are deeply frozen already (verify.ts freezes what it accepts).
    try {
      const result = await hook(candidate.values, {
        namespace: view.ref.namespace,
        labels: view.ref.labels,
        seq: m.seq,
        revision: m.revision,
        digest: m.digest,
      });
      if (typeof result === 'string' && result.length > 0) return result;
      return undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return message.length > 0 ? message : 'the validate hook threw';
    }
  }

  #accept(view: ViewState, verified: VerifiedView, via: ViewChange['via'], receivedAt?: number): void {
    // Deeply frozen by verify.ts; a delta's values share the frozen objects of the keys it did not set.
    const values = verified.values;
    const m = verified.manifest;
    const snapshot: ViewSnapshot = Object.freeze({
      namespace: view.ref.namespace,
      labels: view.ref.labels,
      seq: m.seq,
      revision: m.revision,
      digest: m.digest,
      issuedAt: m.issuedAt,
      manifest: deepFreeze(m),
      signature: verified.signature,
      values,
      source: via === 'cache' ? 'cache' : 'server',
    });
    const previous = view.held?.snapshot;
    const oldValues = previous?.values ?? emptyValues();
    const changed = Object.freeze(changedKeys(previous?.values, values));
    view.held = { manifest: m, signature: verified.signature, values, snapshot };
    view.refused = undefined;
    // Values from the cache are applied too: the fleet should know what this instance runs.
    view.outcome = {
      seq: m.seq,
      digest: m.digest,
      status: 'applied',
      ...(receivedAt === undefined ? {} : { receivedAt, appliedAt: this.#options.clock.now() }),
    };
    this.#emitChange(
      Object.freeze({
        namespace: view.ref.namespace,
        labels: view.ref.labels,
        current: snapshot,
        previous,
        oldValues,
        newValues: values,
        changedKeys: changed,
        via,
      }),
    );
    this.#checkReady();
  }

  #refuse(view: ViewState, code: RejectionCode, reason: string, manifest: Manifest | undefined): void {
    const seq = manifest?.seq;
    if (manifest) view.refused = { seq: manifest.seq, digest: manifest.digest };
    const full = `${code}: ${reason}`.slice(0, maxReasonLength);
    // A report names the release refused; without a readable manifest, the one held.
    const named = manifest ?? view.held?.manifest;
    if (named) view.outcome = { seq: named.seq, digest: named.digest, status: 'rejected', reason: full };
    this.#emitStatus({ type: 'rejected', namespace: view.ref.namespace, labels: view.ref.labels, seq, code, reason });
    this.#reporter.soon();
  }

  // ── what the stream delivers ────────────────────────────────────────────────────────────────

  #watchRequestView(view: ViewState): Record<string, unknown> {
    const m = view.held?.manifest;
    return m
      ? { namespace: view.ref.namespace, labels: view.ref.labels, seq: m.seq, digest: m.digest }
      : { namespace: view.ref.namespace, labels: view.ref.labels };
  }

  #onViewError(data: ViewErrorData): void {
    const view = this.#route(data);
    if (view)
      this.#emitStatus({
        type: 'view-error',
        namespace: view.ref.namespace,
        labels: view.ref.labels,
        code: data.code,
        detail: data.detail,
      });
    else
      this.#emitStatus({
        type: 'protocol-error',
        detail: `view-error for a view not watched: ${data.code} ${data.detail}`,
      });
  }

  /**
   * Which watched view an event is for: its `view` (the view key `[namespace, labels, secrets]`,
   * as JSON text or as an array, or an object with namespace and labels), else its manifest's.
   * The manifest is still checked against the view (check 2), so a wrong `view` cannot smuggle a
   * manifest into another view.
   */
  #route(payload: unknown): ViewState | undefined {
    if (typeof payload !== 'object' || payload === null) return undefined;
    const body = payload as Record<string, unknown>;
    let name: unknown = body.view;
    if (typeof name === 'string') {
      try {
        name = JSON.parse(name) as unknown;
      } catch {
        return undefined;
      }
    }
    let namespace: unknown;
    let labels: unknown;
    if (Array.isArray(name)) [namespace, labels] = name as unknown[];
    else if (typeof name === 'object' && name !== null) ({ namespace, labels } = name as Record<string, unknown>);
    else if (name === undefined && typeof body.manifest === 'object' && body.manifest !== null)
      ({ namespace, labels } = body.manifest as Record<string, unknown>);
    if (typeof namespace !== 'string' || !Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))
      return undefined;
    return this.#byId.get(viewId(namespace, labels));
  }

  async #onView(kind: 'snapshot' | 'delta', payload: unknown): Promise<ViewOutcome> {
    const receivedAt = this.#options.clock.now();
    const view = this.#route(payload);
    if (!view) {
      this.#emitStatus({
        type: 'protocol-error',
        detail: `a ${kind} for a view not watched: ${JSON.stringify((payload as { view?: unknown }).view) ?? 'no view'}`,
      });
      return 'ignored';
    }
    const check = (): Verdict => {
      const context = { view: view.ref, held: view.held, trust: this.#keys.trust };
      return kind === 'snapshot' ? verifySnapshot(payload, context) : verifyDelta(payload, context);
    };
    let verdict = check();
    if (verdict.outcome === 'reject' && verdict.code === 'untrusted_key' && (await this.#keys.refresh()))
      verdict = check();
    if (verdict.outcome === 'unchanged') return 'ignored';
    if (verdict.outcome === 'reject') {
      if (verdict.code === 'delta_base_mismatch') {
        const refused = view.refused;
        const base = payload as { fromSeq?: unknown; fromDigest?: unknown };
        // The server moved on from a release this client refused: not an attack, just resync.
        if (refused && base.fromSeq === refused.seq && base.fromDigest === refused.digest) return 'resync';
        this.#refuse(view, verdict.code, verdict.reason, verdict.manifest);
        return 'resync-suspect';
      }
      this.#refuse(view, verdict.code, verdict.reason, verdict.manifest);
      return 'ignored';
    }
    const refusal = await this.#untilStopped(this.#validate(view, verdict.view));
    if (this.#state !== 'running') return 'ignored';
    if (refusal !== undefined) {
      this.#refuse(view, 'validation_failed', refusal, verdict.view.manifest);
      return 'ignored';
    }
    await this.#persistView(view, verdict.view);
    this.#accept(view, verdict.view, kind, receivedAt);
    this.#reporter.soon();
    return 'applied';
  }

  /** Waits for `promise`, or until the client stops (then undefined): a hung hook cannot hang close(). */
  #untilStopped<T>(promise: Promise<T>): Promise<T | undefined> {
    const signal = this.#lifetime.signal;
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const onAbort = (): void => resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  // ── reports ─────────────────────────────────────────────────────────────────────────────────

  /** What each view last came to, for the reporter. */
  #reportedViews(): ReportedView[] {
    return this.#views.flatMap((view) => {
      const o = view.outcome;
      if (!o) return [];
      return [
        {
          namespace: view.ref.namespace,
          labels: view.ref.labels,
          seq: o.seq,
          digest: o.digest,
          status: o.status,
          ...(o.reason === undefined ? {} : { reason: o.reason }),
          ...(o.receivedAt === undefined ? {} : { receivedAt: o.receivedAt }),
          ...(o.appliedAt === undefined ? {} : { appliedAt: o.appliedAt }),
        },
      ];
    });
  }
}
