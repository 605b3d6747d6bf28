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
      if (this.#stopped) return;
      this.#handler.status({ type: 'disconnected', error });
      const retryAfterMs = error instanceof HeraldClientError ? error.retryAfterMs : undefined;
      const delayMs = this.#backoff.next(retryAfterMs);
      this.#handler.status({ type: 'reconnecting', attempt: this.#backoff.attempt, delayMs });
      const sleep = new Sleep(this.#options.clock, delayMs);
      this.#sleep = sleep;
      await sleep.promise;
      this.#sleep = undefined;
    }
  }

  /** Ends the stream in flight (with `error` as why) and the loop; idempotent. */
  stop(error: Error): void {
    this.#stopped = true;
    this.#stopStream?.(error);
    this.#sleep?.cancel();
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
    await this.#handler.onHelloKeys(data.keys);
    this.#handler.status({ type: 'connected', revision: data.revision, heartbeatMs });
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
