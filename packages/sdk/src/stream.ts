import { parseWatchEvent, type HelloData, type PublicKeyInfo, type ViewErrorData } from '@herald/core';
import { Backoff } from './backoff.js';
import type { ClientStatus } from './client-types.js';
import { Sleep } from './clock.js';
import { HeraldClientError } from './errors.js';
import { problemFromResponse } from './http-problem.js';
import { endpoint, requestHeaders, type ResolvedOptions } from './options.js';
import { SseError, SseParser, type SseEvent } from './sse.js';

/**
 * What became of a view event, as the stream needs to know it: `applied` (the stream is healthy),
 * `ignored` (nothing to do, or refused without consequence for the stream), `resync` (drop the
 * stream and reconnect from what is held), `resync-suspect` (the same, and keep the backoff: the
 * server may keep sending what the client refuses).
 */
export type ViewOutcome = 'applied' | 'ignored' | 'resync' | 'resync-suspect';

/** What the stream asks of the client that owns the views. */
export interface StreamHandler {
  /** The views of the next watch request: what is held now. */
  watchViews(): unknown[];
  /** The keys of a `hello`, before the stream says it is connected. */
  onHelloKeys(keys: readonly PublicKeyInfo[]): Promise<void>;
  onKeys(keys: readonly PublicKeyInfo[]): Promise<void>;
  /**
   * A `snapshot` or `delta`. The payload is the event's data: of the protocol's shape, or not
   * (a malformed view is refused and reported like any other refused view, so it comes here too).
   */
  onView(kind: 'snapshot' | 'delta', payload: unknown): Promise<ViewOutcome>;
  onViewError(data: ViewErrorData): void;
  status(status: ClientStatus): void;
}

const connectTimeoutMs = 30_000;
/** A readiness probe of a preferred endpoint that takes longer than this counts as not ready. */
const probeTimeoutMs = 5_000;

/**
 * Whether another endpoint may do better: the one in use refused or dropped the connection, went
 * silent, broke the protocol, or shed the client. A refusal of the request itself (401, 403, 404)
 * would be the same everywhere: those stay.
 */
function failsOver(error: Error): boolean {
  if (!(error instanceof HeraldClientError)) return false;
  switch (error.code) {
    case 'unreachable':
    case 'stream_stalled':
    case 'stream_ended':
    case 'protocol_error':
      return true;
    case 'http_error':
      return error.status === 429 || error.status === 502 || error.status === 503 || error.status === 504;
    default:
      return false;
  }
}

/**
 * The node is up and said when to come back: it admits other watchers first (a reconnect storm,
 * `watch_deferred`) or is still starting (`starting`, its socket bound before the rest). The client
 * comes back then, with a little jitter; the wait is not a failed attempt (the backoff stays) and
 * no probe cuts it short (the node's own answer is the better signal).
 */
function isDeferral(error: Error): error is HeraldClientError & { retryAfterMs: number } {
  return (
    error instanceof HeraldClientError &&
    error.code === 'http_error' &&
    error.status === 503 &&
    (error.serverCode === 'watch_deferred' || error.serverCode === 'starting') &&
    error.retryAfterMs !== undefined
  );
}

/**
 * The watch stream: opens POST /v1/watch, parses its Server-Sent Events into the protocol's
 * events (core's WatchEvent), hands them to the client, and reconnects with backoff after every
 * failure or end until stopped. It knows nothing of views: the handler decides what an event means.
 *
 * Lifecycle: `run()` (once) loops until `stop(error)`; `stop` cuts the stream in flight and the
 * backoff sleep, and the promise of `run()` then resolves.
 */
export class WatchStream {
  readonly #options: ResolvedOptions;
  readonly #handler: StreamHandler;
  readonly #backoff: Backoff;
  #stopped = false;
  #stopStream: ((error: Error) => void) | undefined;
  #sleep: Sleep | undefined;
  /** Set when the stream was dropped to resynchronise: its next hello does not reset the backoff. */
  #holdBackoff = false;
  #connected = false;
  #upstream: { revision: number; heardAt: number } | undefined;
  /** Endpoints tried since the last healthy stream: a fresh one is tried at once (within jitter). */
  #tried = new Set<number>([0]);
  #probeTimer: unknown;
  #recoveryTimer: unknown;

  constructor(options: ResolvedOptions, handler: StreamHandler) {
    this.#options = options;
    this.#handler = handler;
    this.#backoff = new Backoff(options.reconnect);
  }

  /** Whether a stream is up (its hello came, it has not ended since). */
  get connected(): boolean {
    return this.#connected;
  }

  /** The freshest revision the upstream told of (hello or heartbeat), and when. */
  get upstream(): { readonly revision: number; readonly heardAt: number } | undefined {
    return this.#upstream;
  }

  /** Connects, and reconnects after each end, until stopped. Rejects only on a bug. */
  async run(): Promise<void> {
    while (!this.#stopped) {
      const error = await this.#connectOnce();
      this.#connected = false;
      this.#stopProbing();
      if (this.#stopped) return;
      this.#handler.status({ type: 'disconnected', error });
      const deferred = isDeferral(error);
      const delayMs = deferred ? error.retryAfterMs + this.#backoff.jitter() : this.#nextDelay(error);
      this.#handler.status({ type: 'reconnecting', attempt: this.#backoff.attempt, delayMs });
      const sleep = new Sleep(this.#options.clock, delayMs);
      this.#sleep = sleep;
      // A node that said when to come back is up: no probe would tell more.
      if (!deferred) this.#probeWhileWaiting(sleep, delayMs, this.#options.endpoints.waitMs());
      await sleep.promise;
      this.#sleep = undefined;
      this.#stopRecoveryProbe();
    }
  }

  /**
   * While the client waits to reconnect, probes the endpoint it will reconnect to (`/readyz`) every
   * jittered probe interval, and ends the wait when it answers ready (and, for a relay, reaches its
   * own upstream), but not before `notBeforeMs` (a Retry-After it gave). Only a wait longer than
   * two probe intervals is probed: a short one would gain little, and a fleet in a brief
   * restart's storm would double the requests of the node it waits for. One way of probing:
   * #probeReady, as for failback.
   */
  #probeWhileWaiting(sleep: Sleep, delayMs: number, notBeforeMs: number): void {
    const interval = this.#backoff.probeIntervalMs;
    if (interval === 0 || delayMs <= 2 * interval) return;
    const clock = this.#options.clock;
    const earliest = clock.now() + notBeforeMs;
    const schedule = (): void => {
      this.#recoveryTimer = clock.setTimeout(
        () => {
          this.#recoveryTimer = undefined;
          void this.#probeReady(this.#options.endpoints.current).then((ready) => {
            if (this.#sleep !== sleep || this.#stopped) return;
            if (ready) {
              this.#handler.status({ type: 'upstream-ready', endpoint: this.#options.endpoints.current.href });
              sleep.cancel();
            } else schedule();
          });
        },
        Math.max(this.#backoff.probeDelay(), earliest - clock.now()),
      );
    };
    schedule();
  }

  #stopRecoveryProbe(): void {
    if (this.#recoveryTimer === undefined) return;
    this.#options.clock.clearTimeout(this.#recoveryTimer);
    this.#recoveryTimer = undefined;
  }

  /** Ends the stream in flight (with `error` as why) and the loop; idempotent. */
  stop(error: Error): void {
    this.#stopped = true;
    this.#stopProbing();
    this.#stopRecoveryProbe();
    this.#stopStream?.(error);
    this.#sleep?.cancel();
  }

  /**
   * How long to wait before the next attempt, moving to another endpoint first when the failure
   * says one may do better. A failback reconnects at once; an endpoint not yet tried in this outage
   * within the first jitter (a region failing over does not arrive in one millisecond), or after
   * the Retry-After it gave earlier; once every endpoint has failed, the usual backoff.
   */
  #nextDelay(error: Error): number {
    if (error instanceof HeraldClientError && error.code === 'failback') return 0;
    const endpoints = this.#options.endpoints;
    const retryAfterMs = error instanceof HeraldClientError ? error.retryAfterMs : undefined;
    const moved = failsOver(error) ? endpoints.failover(retryAfterMs) : undefined;
    if (!moved) return this.#backoff.next(retryAfterMs);
    this.#handler.status({ type: 'failover', from: moved.from.href, to: moved.to.href, reason: error.message });
    const waitMs = endpoints.waitMs();
    if (!this.#tried.has(endpoints.index)) {
      this.#tried.add(endpoints.index);
      return waitMs + this.#backoff.jitter();
    }
    return this.#backoff.next(waitMs > 0 ? waitMs : undefined);
  }

  /** While on a less preferred endpoint: probes the preferred ones, and moves back to one that stayed ready. */
  #startProbing(): void {
    this.#stopProbing();
    const endpoints = this.#options.endpoints;
    if (endpoints.index === 0 || this.#stopped) return;
    const clock = this.#options.clock;
    this.#probeTimer = clock.setTimeout(() => {
      this.#probeTimer = undefined;
      void this.#probeOnce().then(() => {
        if (!this.#connected || this.#stopped) return;
        const candidate = endpoints.failbackCandidate();
        if (candidate === undefined) return this.#startProbing();
        const moved = endpoints.failback(candidate);
        this.#handler.status({
          type: 'failback',
          from: moved.from.href,
          to: moved.to.href,
          reason: `${moved.to.href} has been ready for ${endpoints.failbackAfterMs} ms`,
        });
        this.#stopStream?.(new HeraldClientError('failback', `moving back to ${moved.to.href}`));
      });
    }, endpoints.probeIntervalMs);
  }

  #stopProbing(): void {
    if (this.#probeTimer === undefined) return;
    this.#options.clock.clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  /** One readiness probe of each preferred endpoint. */
  async #probeOnce(): Promise<void> {
    const { endpoints } = this.#options;
    await Promise.all(
      endpoints.probeTargets().map(async ({ index, url }) => endpoints.probed(index, await this.#probeReady(url))),
    );
  }

  /** Ready is a 200 from /readyz, from an endpoint that reaches its own upstream (a relay says so). */
  async #probeReady(url: URL): Promise<boolean> {
    const { clock } = this.#options;
    const controller = new AbortController();
    const timer = clock.setTimeout(() => controller.abort(), probeTimeoutMs);
    try {
      const response = await this.#options.fetch(new URL('readyz', url), { signal: controller.signal });
      const body = (await response.json().catch(() => ({}))) as { upstream?: unknown };
      return response.status === 200 && body.upstream !== 'unreachable';
    } catch {
      return false;
    } finally {
      clock.clearTimeout(timer);
    }
  }

  /** One stream, from request to end; returns why it ended. Never throws. */
  async #connectOnce(): Promise<Error> {
    const clock = this.#options.clock;
    const controller = new AbortController();
    let ended: Error | undefined;
    const stop = (error: Error): void => {
      ended ??= error;
      controller.abort(error);
    };
    this.#stopStream = stop;
    let watchdog: unknown;
    const disarm = (): void => {
      clock.clearTimeout(watchdog);
      watchdog = undefined;
    };
    let silenceLimitMs = connectTimeoutMs;
    const arm = (): void => {
      disarm();
      watchdog = clock.setTimeout(
        () => stop(new HeraldClientError('stream_stalled', `nothing heard from the server for ${silenceLimitMs} ms`)),
        silenceLimitMs,
      );
    };
    this.#handler.status({ type: 'connecting', attempt: this.#backoff.attempt });
    arm();
    try {
      const response = await this.#options.fetch(endpoint(this.#options, 'v1/watch'), {
        method: 'POST',
        headers: requestHeaders(this.#options, { 'content-type': 'application/json', accept: 'text/event-stream' }),
        body: JSON.stringify({
          instanceId: this.#options.instanceId,
          attributes: this.#options.attributes,
          views: this.#handler.watchViews(),
        }),
        signal: controller.signal,
      });
      if (response.status !== 200) return await problemFromResponse(response, 'the watch was refused', clock.now());
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
          const outcome = await this.#handle(event, (ms) => (silenceLimitMs = ms));
          if (this.#stopped) return ended ?? new HeraldClientError('client_closed', 'the client is closed');
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
        `cannot reach ${this.#options.endpoints.current.origin}${code ? ` (${code})` : ''}`,
        { cause: error },
      );
    } finally {
      disarm();
      this.#stopStream = undefined;
      // Releases the connection when we left before the server ended the stream.
      controller.abort(ended ?? new HeraldClientError('stream_ended', 'stream closed'));
    }
  }

  /** One Server-Sent Event: parsed into the protocol's events (untrusted input is checked here, once). */
  async #handle(sse: SseEvent, setSilenceLimit: (ms: number) => void): Promise<'ok' | 'resync'> {
    const parsed = parseWatchEvent(sse.type, sse.data);
    if (parsed.status === 'unknown') return 'ok'; // events added later are ignored by older clients
    if (parsed.status === 'invalid') {
      if ((parsed.name === 'snapshot' || parsed.name === 'delta') && parsed.data !== undefined)
        return this.#view(parsed.name, parsed.data);
      this.#handler.status({ type: 'protocol-error', detail: `the data of a "${parsed.name}" event ${parsed.reason}` });
      return 'ok';
    }
    const event = parsed.event;
    switch (event.event) {
      case 'hello':
        await this.#hello(event.data, setSilenceLimit);
        return 'ok';
      case 'snapshot':
      case 'delta':
        return this.#view(event.event, event.data);
      case 'heartbeat':
        this.#upstream = { revision: event.data.revision, heardAt: this.#options.clock.now() };
        // A stream that lived to its first heartbeat after a resync is healthy again.
        this.#releaseBackoff();
        return 'ok';
      case 'keys':
        await this.#handler.onKeys(event.data.keys);
        return 'ok';
      case 'view-error':
        this.#handler.onViewError(event.data);
        return 'ok';
    }
  }

  async #hello(data: HelloData, setSilenceLimit: (ms: number) => void): Promise<void> {
    const heartbeatMs = data.heartbeatMs;
    // Three missed heartbeats and the connection is presumed dead (a half-open TCP connection
    // would otherwise hold the client forever).
    setSilenceLimit(Math.max(3 * heartbeatMs, 1000));
    this.#upstream = { revision: data.revision, heardAt: this.#options.clock.now() };
    if (!this.#holdBackoff) this.#backoff.reset();
    this.#connected = true;
    const endpoints = this.#options.endpoints;
    this.#tried = new Set([endpoints.index]);
    await this.#handler.onHelloKeys(data.keys);
    this.#handler.status({ type: 'connected', revision: data.revision, heartbeatMs, endpoint: endpoints.current.href });
    this.#startProbing();
  }

  async #view(kind: 'snapshot' | 'delta', payload: unknown): Promise<'ok' | 'resync'> {
    const outcome = await this.#handler.onView(kind, payload);
    if (outcome === 'applied') this.#releaseBackoff();
    if (outcome === 'resync-suspect') this.#holdBackoff = true;
    return outcome === 'resync' || outcome === 'resync-suspect' ? 'resync' : 'ok';
  }

  #releaseBackoff(): void {
    if (!this.#holdBackoff) return;
    this.#holdBackoff = false;
    this.#backoff.reset();
  }
}
