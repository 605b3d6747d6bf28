import { diffViews, type Manifest, type PublicKeyInfo, type ViewValues } from '@herald/core';
import { Backoff, parseRetryAfter } from './backoff.js';
import { DiskCache } from './cache.js';
import { Channel } from './channel.js';
import { Sleep, type ClientClock } from './clock.js';
import { abortError, HeraldClientError } from './errors.js';
import { isUsableKey, KeyRing } from './keyring.js';
import {
  resolveOptions,
  viewId,
  type HealthStatus,
  type HeraldClientOptions,
  type ResolvedOptions,
  type ResolvedView,
} from './options.js';
import { SseError, SseParser, type SseEvent } from './sse.js';
import { verifyDelta, verifySnapshot, type RejectionCode, type Verdict, type VerifiedView } from './verify.js';

/** What the client holds for one view: verified, frozen, safe to keep and share. */
export interface ViewSnapshot {
  readonly namespace: string;
  readonly labels: readonly string[];
  readonly seq: number;
  readonly revision: number;
  readonly digest: string;
  /** When the release was made (ms since the epoch), from the signed manifest. */
  readonly issuedAt: number;
  /** The signed manifest and its signature, as received (a relay can serve them on). */
  readonly manifest: Readonly<Manifest>;
  readonly signature: string;
  /** Deeply frozen. */
  readonly values: Readonly<ViewValues>;
  /** 'cache' until the server has delivered this view in this process. */
  readonly source: 'cache' | 'server';
}

/** One accepted view. `changedKeys` is empty when a release did not change this view's values. */
export interface ViewChange {
  readonly namespace: string;
  readonly labels: readonly string[];
  readonly current: ViewSnapshot;
  /** What was held before; undefined for the first values of the view in this process. */
  readonly previous: ViewSnapshot | undefined;
  /** `previous.values`, or {} when nothing was held. */
  readonly oldValues: Readonly<ViewValues>;
  readonly newValues: Readonly<ViewValues>;
  /** Keys set, changed or removed, sorted. */
  readonly changedKeys: readonly string[];
  /** How it arrived: loaded from the verified cache at start, or a snapshot or delta from the server. */
  readonly via: 'cache' | 'snapshot' | 'delta';
}

interface ViewName {
  readonly namespace: string;
  readonly labels: readonly string[];
}

/** What the client is doing, for logs and dashboards. A discriminated union on `type`. */
export type ClientStatus =
  /** Opening a watch stream; `attempt` is the number of failed attempts since the last success. */
  | { readonly type: 'connecting'; readonly attempt: number }
  /** The stream delivered its `hello`. */
  | { readonly type: 'connected'; readonly revision: number; readonly heartbeatMs: number }
  /** The stream failed or ended; `error.code` says how (see HeraldClientError). */
  | { readonly type: 'disconnected'; readonly error: Error }
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly delayMs: number }
  /** Serving views from the verified cache that the control plane has not confirmed yet. */
  | {
      readonly type: 'stale-cache';
      readonly views: ReadonlyArray<
        ViewName & { readonly seq: number; readonly digest: string; readonly issuedAt: number }
      >;
    }
  /** 'tofu': these keys were trusted because the server presented them on first contact. */
  | {
      readonly type: 'trusted-on-first-use';
      readonly keys: ReadonlyArray<{ readonly keyId: string; readonly publicKey: string }>;
    }
  /** New signing keys trusted through an endorsement by a trusted key (rotation). */
  | { readonly type: 'keys-learned'; readonly keyIds: readonly string[] }
  /** A view (or a release of it) was refused; the previous values stay. */
  | (ViewName & {
      readonly type: 'rejected';
      readonly seq: number | undefined;
      readonly code: RejectionCode;
      readonly reason: string;
    })
  /** The server can no longer serve a view (e.g. its namespace was deleted); the values held stay. */
  | (ViewName & { readonly type: 'view-error'; readonly code: string; readonly detail: string })
  /** The server sent something that is not the protocol (ignored). */
  | { readonly type: 'protocol-error'; readonly detail: string }
  /** A cache file failed to read or verify and was ignored (never trusted). */
  | { readonly type: 'cache-ignored'; readonly file: string; readonly code: string; readonly reason: string }
  /** The cache could not be written (the view was still applied in memory). */
  | { readonly type: 'cache-error'; readonly error: Error }
  /** A report failed; the next one goes at the next interval. */
  | { readonly type: 'report-failed'; readonly error: Error }
  /** The client is closed; `error` is why, when it did not close on request. */
  | { readonly type: 'closed'; readonly error: Error | undefined };

export type ClientStatusType = ClientStatus['type'];

export interface ViewSelector {
  /** Needed only when the namespace is watched with more than one label stack. */
  labels?: readonly string[];
}

interface Outcome {
  seq: number;
  digest: string;
  status: 'applied' | 'rejected';
  reason?: string;
}

interface ViewState {
  readonly ref: ResolvedView;
  held: (VerifiedView & { snapshot: ViewSnapshot }) | undefined;
  /** The last release refused since the held one: a delta from it means the server moved on, not an attack. */
  refused: { seq: number; digest: string } | undefined;
  outcome: Outcome | undefined;
}

type LifeState = 'new' | 'starting' | 'running' | 'closing' | 'closed';

const connectTimeoutMs = 30_000;
const reportTimeoutMs = 10_000;
const closeReportTimeoutMs = 2_000;
const keysRefreshMinIntervalMs = 10_000;
const maxReasonLength = 1000;

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

/** A settle-once promise whose rejection is never "unhandled" (nobody may be waiting for it). */
class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (error: Error) => void;
  settled = false;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = (value) => {
        this.settled = true;
        resolve(value);
      };
      this.reject = (error) => {
        this.settled = true;
        reject(error);
      };
    });
    this.promise.catch(() => undefined);
  }
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
  readonly #clock: ClientClock;
  readonly #views: ViewState[];
  readonly #byId = new Map<string, ViewState>();
  readonly #keys: KeyRing;
  readonly #cache: DiskCache | undefined;
  readonly #backoff: Backoff;
  readonly #changeChannels = new Set<{ channel: Channel<ViewChange>; namespace: string | undefined }>();
  readonly #statusChannels = new Set<Channel<ClientStatus>>();
  readonly #ready = new Deferred<void>();
  readonly #closed = new Deferred<void | Error>();
  /** Aborted when the client stops: unblocks every wait inside it. */
  readonly #lifetime = new AbortController();
  /** Aborted by destroy: cuts the final report short too. */
  readonly #hardStop = new AbortController();
  /** Aborted by destroy, or by close() when the report in flight outlives its grace. */
  readonly #reportStop = new AbortController();

  #state: LifeState = 'new';
  #startPromise: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;
  #runLoop: Promise<void> | undefined;
  #stopStream: ((error: Error) => void) | undefined;
  #sleep: Sleep | undefined;
  /** Set when the stream was dropped to resynchronise: its next hello does not reset the backoff. */
  #holdBackoff = false;
  #connected = false;
  #upstream: { revision: number; heardAt: number } | undefined;
  #lastKeysRefresh = Number.NEGATIVE_INFINITY;
  #health: { status: HealthStatus; detail: string } = { status: 'ok', detail: '' };
  #reportTimer: unknown;
  #reporting: Promise<void> | undefined;
  #reportAgain = false;
  #abortListener: (() => void) | undefined;

  constructor(options: HeraldClientOptions) {
    this.#options = resolveOptions(options);
    this.#clock = this.#options.clock;
    this.#views = this.#options.views.map((ref) => ({ ref, held: undefined, refused: undefined, outcome: undefined }));
    for (const view of this.#views) this.#byId.set(view.ref.id, view);
    this.#keys = new KeyRing(this.#options.trustedKeys);
    this.#cache = this.#options.cacheDir === undefined ? undefined : new DiskCache(this.#options.cacheDir);
    this.#backoff = new Backoff(this.#options.reconnect);
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
    this.#runLoop = this.#run().catch((error: unknown) => {
      // A bug in the loop must not go unnoticed, nor leave the client half alive.
      void this.destroy(error instanceof Error ? error : new Error(String(error)));
    });
    this.#scheduleReport();
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

  /** Whether a stream is up, and the freshest revision the upstream told of (hello or heartbeat). */
  upstream(): { connected: boolean; revision: number | undefined; heardAt: number | undefined } {
    return { connected: this.#connected, revision: this.#upstream?.revision, heardAt: this.#upstream?.heardAt };
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

  /** Sets the health sent with reports, and sends a report soon. */
  reportHealth(status: HealthStatus, detail = ''): void {
    if (status !== 'ok' && status !== 'degraded' && status !== 'failing')
      throw new HeraldClientError(
        'invalid_options',
        `health status must be ok, degraded or failing, not ${String(status)}`,
      );
    this.#health = { status, detail: String(detail).slice(0, maxReasonLength) };
    this.#reportSoon();
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
    this.#hardStop.abort(error);
    this.#reportStop.abort(error);
    this.#closePromise ??= this.#shutdown(error, false);
    return this.#closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ── lifecycle ───────────────────────────────────────────────────────────────────────────────

  async #shutdown(error: Error | undefined, graceful: boolean): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'closing';
    this.#abortListener?.();
    this.#abortListener = undefined;
    this.#lifetime.abort(error ?? new HeraldClientError('client_closed', 'the client is closed'));
    this.#stopStream?.(new HeraldClientError('client_closed', 'the client is closed'));
    this.#sleep?.cancel();
    this.#clock.clearTimeout(this.#reportTimer);
    this.#reportTimer = undefined;
    await this.#runLoop;
    if (graceful && wasRunning) {
      // A report in flight may finish (a request cut mid-way can leave the server waiting for
      // the rest of it), within a bound; then the last one says where we are.
      if (this.#reporting) {
        const grace = AbortSignal.timeout(closeReportTimeoutMs);
        await Promise.race([
          this.#reporting,
          new Promise((resolve) => grace.addEventListener('abort', resolve, { once: true })),
        ]);
        this.#reportStop.abort(new HeraldClientError('client_closed', 'the client is closed'));
        await this.#reporting;
      }
      await this.#sendReport(closeReportTimeoutMs, this.#hardStop.signal);
    } else {
      this.#reportStop.abort(error ?? new HeraldClientError('client_closed', 'the client is closed'));
      await this.#reporting;
    }
    await this.#cache?.flush();
    this.#connected = false;
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

  async #persistKeys(): Promise<void> {
    if (!this.#cache) return;
    try {
      await this.#cache.writeKeys(this.#keys.toFile());
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
    deepFreeze(candidate.values);
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

  #accept(view: ViewState, verified: VerifiedView, via: ViewChange['via']): void {
    const values = deepFreeze(verified.values);
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
    const diff = diffViews(oldValues, values);
    const changedKeys = Object.freeze([...Object.keys(diff.set), ...diff.remove].sort());
    view.held = { manifest: m, signature: verified.signature, values, snapshot };
    view.refused = undefined;
    // Values from the cache are applied too: the fleet should know what this instance runs.
    view.outcome = { seq: m.seq, digest: m.digest, status: 'applied' };
    this.#emitChange(
      Object.freeze({
        namespace: view.ref.namespace,
        labels: view.ref.labels,
        current: snapshot,
        previous,
        oldValues,
        newValues: values,
        changedKeys,
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
    this.#reportSoon();
  }

  // ── the watch stream ────────────────────────────────────────────────────────────────────────

  async #run(): Promise<void> {
    while (this.#state === 'running') {
      const error = await this.#connectOnce();
      this.#connected = false;
      if (this.#state !== 'running') return;
      this.#emitStatus({ type: 'disconnected', error });
      const retryAfterMs = error instanceof HeraldClientError ? error.retryAfterMs : undefined;
      const delayMs = this.#backoff.next(retryAfterMs);
      this.#emitStatus({ type: 'reconnecting', attempt: this.#backoff.attempt, delayMs });
      const sleep = new Sleep(this.#clock, delayMs);
      this.#sleep = sleep;
      await sleep.promise;
      this.#sleep = undefined;
    }
  }

  #url(path: string): URL {
    return new URL(path, this.#options.base);
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.#options.token}`, ...extra };
  }

  /** One stream, from request to end; returns why it ended. Never throws. */
  async #connectOnce(): Promise<Error> {
    const controller = new AbortController();
    let ended: Error | undefined;
    const stop = (error: Error): void => {
      ended ??= error;
      controller.abort(error);
    };
    this.#stopStream = stop;
    let watchdog: unknown;
    const disarm = (): void => {
      this.#clock.clearTimeout(watchdog);
      watchdog = undefined;
    };
    let silenceLimitMs = connectTimeoutMs;
    const arm = (): void => {
      disarm();
      watchdog = this.#clock.setTimeout(
        () => stop(new HeraldClientError('stream_stalled', `nothing heard from the server for ${silenceLimitMs} ms`)),
        silenceLimitMs,
      );
    };
    this.#emitStatus({ type: 'connecting', attempt: this.#backoff.attempt });
    arm();
    try {
      const response = await this.#options.fetch(this.#url('v1/watch'), {
        method: 'POST',
        headers: this.#headers({ 'content-type': 'application/json', accept: 'text/event-stream' }),
        body: JSON.stringify({
          instanceId: this.#options.instanceId,
          attributes: this.#options.attributes,
          views: this.#views.map((view) => this.#watchRequestView(view)),
        }),
        signal: controller.signal,
      });
      if (response.status !== 200) return await this.#httpError(response);
      const type = response.headers.get('content-type') ?? '';
      if (!type.toLowerCase().startsWith('text/event-stream') || !response.body) {
        await response.body?.cancel().catch(() => undefined);
        return new HeraldClientError(
          'protocol_error',
          `the watch answered ${type || 'no content type'}, not text/event-stream`,
        );
      }
      const reader = response.body.getReader();
      const parser = new SseParser();
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        disarm();
        for (const event of parser.push(chunk.value as Uint8Array)) {
          const outcome = await this.#handleEvent(event, (ms) => (silenceLimitMs = ms));
          if (this.#state !== 'running') return ended ?? new HeraldClientError('client_closed', 'the client is closed');
          if (outcome === 'resync') {
            const resync = new HeraldClientError('resync', 'dropped the stream to resynchronise from what is held');
            stop(resync);
            return ended ?? resync;
          }
        }
        arm();
      }
      const truncated = parser.end();
      return (
        ended ??
        new HeraldClientError(
          'stream_ended',
          truncated ? 'the server ended the stream in the middle of an event' : 'the server ended the stream',
        )
      );
    } catch (error) {
      if (ended) return ended;
      if (error instanceof SseError) return new HeraldClientError('protocol_error', error.message, { cause: error });
      if (error instanceof HeraldClientError) return error;
      const code = (error as { cause?: { code?: string } }).cause?.code;
      return new HeraldClientError(
        'unreachable',
        `cannot reach ${this.#options.base.origin}${code ? ` (${code})` : ''}`,
        { cause: error },
      );
    } finally {
      disarm();
      this.#stopStream = undefined;
      // Releases the connection when we left before the server ended the stream.
      controller.abort(ended ?? new HeraldClientError('stream_ended', 'stream closed'));
    }
  }

  #watchRequestView(view: ViewState): Record<string, unknown> {
    const m = view.held?.manifest;
    return m
      ? { namespace: view.ref.namespace, labels: view.ref.labels, seq: m.seq, digest: m.digest }
      : { namespace: view.ref.namespace, labels: view.ref.labels };
  }

  async #httpError(response: Response): Promise<HeraldClientError> {
    let problem: Record<string, unknown> = {};
    try {
      const text = await response.text();
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === 'object' && parsed !== null) problem = parsed as Record<string, unknown>;
    } catch {
      // not problem+json: the status says enough
    }
    const retryAfterMs =
      response.status === 503 ? parseRetryAfter(response.headers.get('retry-after'), this.#clock.now()) : undefined;
    const serverCode = typeof problem.code === 'string' ? problem.code : undefined;
    const detail = typeof problem.detail === 'string' ? problem.detail : `HTTP ${response.status}`;
    return new HeraldClientError('http_error', `the watch was refused: ${detail}`, {
      status: response.status,
      ...(serverCode ? { serverCode } : {}),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  async #handleEvent(event: SseEvent, setSilenceLimit: (ms: number) => void): Promise<'ok' | 'resync'> {
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      this.#emitStatus({ type: 'protocol-error', detail: `the data of a "${event.type}" event is not JSON` });
      return 'ok';
    }
    if (typeof data !== 'object' || data === null) {
      this.#emitStatus({ type: 'protocol-error', detail: `the data of a "${event.type}" event is not an object` });
      return 'ok';
    }
    const body = data as Record<string, unknown>;
    switch (event.type) {
      case 'hello':
        await this.#onHello(body, setSilenceLimit);
        return 'ok';
      case 'snapshot':
      case 'delta':
        return this.#onView(event.type, body);
      case 'heartbeat':
        if (typeof body.revision === 'number') this.#upstream = { revision: body.revision, heardAt: this.#clock.now() };
        // A stream that lived to its first heartbeat after a resync is healthy again.
        if (this.#holdBackoff) {
          this.#holdBackoff = false;
          this.#backoff.reset();
        }
        return 'ok';
      case 'keys':
        if (Array.isArray(body.keys)) await this.#learnKeys(body.keys);
        return 'ok';
      case 'view-error': {
        const view = this.#route(body);
        const code = typeof body.code === 'string' ? body.code : 'view_error';
        const detail = typeof body.detail === 'string' ? body.detail : '';
        if (view)
          this.#emitStatus({
            type: 'view-error',
            namespace: view.ref.namespace,
            labels: view.ref.labels,
            code,
            detail,
          });
        else
          this.#emitStatus({ type: 'protocol-error', detail: `view-error for a view not watched: ${code} ${detail}` });
        return 'ok';
      }
      default:
        return 'ok'; // events added later are ignored by older clients
    }
  }

  async #onHello(body: Record<string, unknown>, setSilenceLimit: (ms: number) => void): Promise<void> {
    const heartbeatMs = typeof body.heartbeatMs === 'number' && body.heartbeatMs > 0 ? body.heartbeatMs : 15_000;
    const revision = typeof body.revision === 'number' ? body.revision : 0;
    // Three missed heartbeats and the connection is presumed dead (a half-open TCP connection
    // would otherwise hold the client forever).
    setSilenceLimit(Math.max(3 * heartbeatMs, 1000));
    this.#upstream = { revision, heardAt: this.#clock.now() };
    if (!this.#holdBackoff) this.#backoff.reset();
    this.#connected = true;
    const keys = Array.isArray(body.keys) ? (body.keys as unknown[]).filter(isUsableKey) : [];
    if (this.#keys.awaitingFirstUse && keys.length > 0) await this.#pinFirstUse(keys);
    else if (keys.length > 0) await this.#learnKeys(keys);
    this.#emitStatus({ type: 'connected', revision, heartbeatMs });
  }

  async #pinFirstUse(keys: PublicKeyInfo[]): Promise<void> {
    const pinned = this.#keys.pinOnFirstUse(keys);
    if (pinned.length === 0) return;
    this.#emitStatus({
      type: 'trusted-on-first-use',
      keys: pinned.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey })),
    });
    await this.#persistKeys();
  }

  async #learnKeys(keys: unknown[]): Promise<void> {
    const { learned, changed } = this.#keys.learn(keys.filter(isUsableKey));
    if (learned.length > 0) this.#emitStatus({ type: 'keys-learned', keyIds: learned });
    if (changed) await this.#persistKeys();
  }

  /** GET /v1/keys, at most every 10 s: a manifest named a key not (yet) trusted. */
  async #refreshKeys(): Promise<boolean> {
    const now = this.#clock.now();
    if (now - this.#lastKeysRefresh < keysRefreshMinIntervalMs) return false;
    this.#lastKeysRefresh = now;
    try {
      const response = await this.#options.fetch(this.#url('v1/keys'), {
        headers: this.#headers({ accept: 'application/json' }),
        signal: AbortSignal.any([this.#lifetime.signal, AbortSignal.timeout(reportTimeoutMs)]),
      });
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        return false;
      }
      const body = (await response.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) return false;
      const keys = body.keys.filter(isUsableKey);
      const before = this.#keys.trust.size;
      if (this.#keys.awaitingFirstUse) await this.#pinFirstUse(keys);
      else await this.#learnKeys(keys);
      return this.#keys.trust.size > before;
    } catch {
      return false;
    }
  }

  /**
   * Which watched view an event is for: its `view` (the view key `[namespace, labels, secrets]`,
   * as JSON text or as an array, or an object with namespace and labels), else its manifest's.
   * The manifest is still checked against the view (check 2), so a wrong `view` cannot smuggle a
   * manifest into another view.
   */
  #route(body: Record<string, unknown>): ViewState | undefined {
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

  async #onView(kind: 'snapshot' | 'delta', body: Record<string, unknown>): Promise<'ok' | 'resync'> {
    const view = this.#route(body);
    if (!view) {
      this.#emitStatus({
        type: 'protocol-error',
        detail: `a ${kind} for a view not watched: ${JSON.stringify(body.view) ?? 'no view'}`,
      });
      return 'ok';
    }
    const check = (): Verdict => {
      const context = { view: view.ref, held: view.held, trust: this.#keys.trust };
      return kind === 'snapshot' ? verifySnapshot(body, context) : verifyDelta(body, context);
    };
    let verdict = check();
    if (verdict.outcome === 'reject' && verdict.code === 'untrusted_key' && (await this.#refreshKeys()))
      verdict = check();
    if (verdict.outcome === 'unchanged') return 'ok';
    if (verdict.outcome === 'reject') {
      if (verdict.code === 'delta_base_mismatch') {
        const refused = view.refused;
        // The server moved on from a release this client refused: not an attack, just resync.
        if (refused && body.fromSeq === refused.seq && body.fromDigest === refused.digest) return 'resync';
        this.#refuse(view, verdict.code, verdict.reason, verdict.manifest);
        this.#holdBackoff = true;
        return 'resync';
      }
      this.#refuse(view, verdict.code, verdict.reason, verdict.manifest);
      return 'ok';
    }
    const refusal = await this.#untilStopped(this.#validate(view, verdict.view));
    if (this.#state !== 'running') return 'ok';
    if (refusal !== undefined) {
      this.#refuse(view, 'validation_failed', refusal, verdict.view.manifest);
      return 'ok';
    }
    await this.#persistView(view, verdict.view);
    this.#accept(view, verdict.view, kind);
    if (this.#holdBackoff) {
      this.#holdBackoff = false;
      this.#backoff.reset();
    }
    this.#reportSoon();
    return 'ok';
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

  #scheduleReport(): void {
    if (this.#state !== 'running') return;
    this.#clock.clearTimeout(this.#reportTimer);
    // ±10 %: a fleet started at once does not report in lockstep forever.
    const interval = this.#options.reportIntervalMs * (0.9 + 0.2 * Math.random());
    this.#reportTimer = this.#clock.setTimeout(() => {
      this.#reportTimer = undefined;
      this.#reportSoon();
    }, interval);
  }

  /** Sends a report now, or right after the one in flight (bursts coalesce into one). */
  #reportSoon(): void {
    if (this.#state !== 'running') return;
    if (this.#reporting) {
      this.#reportAgain = true;
      return;
    }
    this.#reporting = (async () => {
      try {
        do {
          this.#reportAgain = false;
          await this.#sendReport(reportTimeoutMs, this.#reportStop.signal);
        } while (this.#reportAgain && this.#state === 'running');
      } finally {
        this.#reporting = undefined;
        this.#scheduleReport();
      }
    })();
  }

  /** One POST /v1/reports; failures become a status event, never an exception. */
  async #sendReport(timeoutMs: number, stop: AbortSignal): Promise<void> {
    const views = this.#views.flatMap((view) => {
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
        },
      ];
    });
    const body = {
      instanceId: this.#options.instanceId,
      attributes: this.#options.attributes,
      views,
      health: this.#health,
    };
    try {
      const response = await this.#options.fetch(this.#url('v1/reports'), {
        method: 'POST',
        headers: this.#headers({ 'content-type': 'application/json', accept: 'application/json' }),
        body: JSON.stringify(body),
        signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]),
      });
      if (response.status >= 300) {
        const error = await this.#httpError(response);
        throw new HeraldClientError(
          'http_error',
          error.message.replace('the watch was refused', 'the report was refused'),
          { status: error.status, ...(error.serverCode ? { serverCode: error.serverCode } : {}) },
        );
      }
      // Read to the end, so the connection goes back to the pool in a clean state.
      await response.arrayBuffer();
    } catch (error) {
      // A report cut short by close() is followed by the last report: nothing to say.
      if (stop.aborted && this.#state !== 'running') return;
      const reported =
        error instanceof HeraldClientError
          ? error
          : new HeraldClientError('unreachable', `the report could not be sent: ${(error as Error).message}`, {
              cause: error,
            });
      this.#emitStatus({ type: 'report-failed', error: reported });
    }
  }
}
