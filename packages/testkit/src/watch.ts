// Raw watch streams for tests: POST /v1/watch over fetch, parsed with the SDK's SseParser, so a
// test sees every event exactly as the server sent it (no SDK logic in between), read into core's
// WatchEvent union, and a small verifier that applies snapshots and deltas the way
// docs/protocol.md says a client must.
import assert from 'node:assert/strict';
import { applyDelta, parseWatchEvent, viewDigest, type Manifest, type ViewValues, type WatchEvent } from '@herald/core';
import { SseParser } from '@herald/sdk';

/** One event as received: its name and data text exactly as sent, and what they say. */
export interface ReceivedWatchEvent {
  /** The `event:` name. */
  type: string;
  /** The `data:` text, exactly as received. */
  data: string;
  /** The parsed data, as sent (for assertions on the wire shape itself). */
  body: Record<string, unknown>;
  /**
   * The event read into the protocol's union (RawWatch sets it; see readWatchEvent); undefined when
   * it is not the protocol's shape.
   */
  event?: WatchEvent | undefined;
}

/** The name tests have always imported; the type is ReceivedWatchEvent. */
export type { ReceivedWatchEvent as WatchEvent };

export interface RawWatchView {
  namespace: string;
  labels?: string[];
  seq?: number;
  digest?: string;
}

export interface RawWatchOptions {
  /** Bearer token for the watch. */
  token: string;
  instanceId?: string;
}

/** Reads one event of a stream (its name and data text) as a test sees it. */
export function readWatchEvent(type: string, data: string): ReceivedWatchEvent {
  const read = parseWatchEvent(type, data);
  return {
    type,
    data,
    body: JSON.parse(data) as Record<string, unknown>,
    event: read.status === 'ok' ? read.event : undefined,
  };
}

/**
 * One watch stream. Events are kept in arrival order; `next()` hands them out one at a time, each
 * wait bounded (a liveness guard: a missing event fails the test instead of hanging it).
 */
export class RawWatch {
  readonly status: number;
  readonly headers: Headers;
  /** The body of a refused watch (problem+json), '' for a stream. */
  readonly refusal: string;
  readonly events: ReceivedWatchEvent[] = [];
  #cursor = 0;
  #ended = false;
  #error: Error | undefined;
  readonly #controller: AbortController;
  readonly #waiters = new Set<() => void>();
  readonly #pump: Promise<void>;

  private constructor(response: Response, refusal: string, controller: AbortController) {
    this.status = response.status;
    this.headers = response.headers;
    this.refusal = refusal;
    this.#controller = controller;
    this.#pump = response.status === 200 && response.body ? this.#read(response.body) : Promise.resolve(this.#finish());
  }

  /** Opens a stream; a refused watch (not 200) resolves too, with `status` and `refusal` set. */
  static async open(url: string, views: RawWatchView[], options: RawWatchOptions): Promise<RawWatch> {
    const controller = new AbortController();
    const response = await fetch(new URL('/v1/watch', url), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.token}`,
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      body: JSON.stringify({ ...(options.instanceId ? { instanceId: options.instanceId } : {}), views }),
      signal: controller.signal,
    });
    const refusal = response.status === 200 ? '' : await response.text();
    return new RawWatch(response, refusal, controller);
  }

  /** True once the server ended or cut the stream (or close() was called). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Events received but not yet handed out by next(). */
  get pending(): number {
    return this.events.length - this.#cursor;
  }

  /** The next event; rejects when none arrives within `timeoutMs` or the stream ends first. */
  async next(timeoutMs = 15_000): Promise<ReceivedWatchEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = this.events[this.#cursor];
      if (event) {
        this.#cursor += 1;
        return event;
      }
      if (this.#ended)
        throw new Error(
          `the watch stream ended${this.#error ? ` (${this.#error.message})` : ''} after ${this.events.length} events`,
        );
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new Error(
          `no watch event within ${timeoutMs} ms (after ${this.events.length} events: ${this.events.map((e) => e.type).join(', ')})`,
        );
      await this.#arrival(remaining);
    }
  }

  /** The next event that is not a heartbeat (heartbeats in between are skipped). */
  async nextView(timeoutMs = 15_000): Promise<ReceivedWatchEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = await this.next(Math.max(1, deadline - Date.now()));
      if (event.type !== 'heartbeat') return event;
    }
  }

  /** Resolves once the stream has ended (bounded), with every event received. */
  async untilEnded(timeoutMs = 15_000): Promise<ReceivedWatchEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`the watch stream did not end within ${timeoutMs} ms`);
      await this.#arrival(remaining);
    }
    return this.events;
  }

  /** Cuts the stream from this side. */
  async close(): Promise<void> {
    this.#controller.abort();
    await this.#pump;
  }

  #arrival(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #finish(error?: Error): void {
    this.#ended = true;
    this.#error ??= error;
    this.#wake();
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const parser = new SseParser();
    const reader = body.getReader();
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        const parsed = parser.push(chunk.value);
        for (const event of parsed) this.events.push(readWatchEvent(event.type, event.data));
        if (parsed.length > 0) this.#wake();
      }
      this.#finish();
    } catch (error) {
      this.#finish(error as Error);
    } finally {
      reader.releaseLock();
    }
  }
}

/** What a client holds for a view, kept by applying events as docs/protocol.md says. */
export interface HeldView {
  manifest: Manifest;
  signature: string;
  values: ViewValues;
}

/**
 * Applies a snapshot or delta event to what is held and checks it as a client must (delta base,
 * digest of the result); throws on any mismatch. Signatures are the caller's business (TrustStore).
 */
export function applyViewEvent(held: HeldView | undefined, received: ReceivedWatchEvent): HeldView {
  const event = received.event ?? readWatchEvent(received.type, received.data).event;
  let values: ViewValues;
  if (event?.event === 'snapshot') {
    values = event.data.values;
  } else if (event?.event === 'delta') {
    if (!held) throw new Error('a delta arrived but nothing is held');
    if (event.data.fromSeq !== held.manifest.seq || event.data.fromDigest !== held.manifest.digest) {
      throw new Error(`a delta from ${event.data.fromSeq} arrived but ${held.manifest.seq} is held`);
    }
    values = applyDelta(held.values, { set: event.data.set, remove: event.data.remove });
  } else {
    throw new Error(`not a view event of the protocol's shape: ${received.type} ${received.data.slice(0, 200)}`);
  }
  const { manifest, signature } = event.data;
  const digest = viewDigest(values);
  if (digest !== manifest.digest)
    throw new Error(`the values of seq ${manifest.seq} hash to ${digest}, the manifest says ${manifest.digest}`);
  return { manifest, signature, values };
}

/** Reads a watch stream (a fetch response) up to its hello; the reader, for the caller to cancel or keep. */
export async function untilHello(response: Response): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('event: hello')) {
    const chunk = await reader.read();
    assert.equal(chunk.done, false, 'the stream ended before its hello');
    text += new TextDecoder().decode(chunk.value as Uint8Array);
  }
  return reader;
}

/** An SSE event framed as the server frames it (one HTTP/1.1 chunk), e.g. to replay captured data. */
export function sseChunk(type: string, data: string): Buffer {
  const body = Buffer.from(`event: ${type}\ndata: ${data}\n\n`, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'), body, Buffer.from('\r\n', 'latin1')]);
}

/**
 * Decodes an HTTP/1.1 response read from a raw socket: skips the head, then undoes chunked
 * transfer coding, incrementally. For tests that need a client whose socket they control (one
 * that stops reading, say) and still want the events it did get.
 */
export class ChunkedResponseDecoder {
  #buffer: Buffer = Buffer.alloc(0);
  #head: string | undefined;
  /** Bytes left in the current chunk, then its CRLF; undefined while a size line is expected. */
  #left: number | undefined;

  /** The response head (status line and headers) once received. */
  get head(): string | undefined {
    return this.#head;
  }

  /** Feeds bytes; returns the body bytes they completed. */
  push(chunk: Buffer): Buffer[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: Buffer[] = [];
    if (this.#head === undefined) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end === -1) return out;
      this.#head = this.#buffer.subarray(0, end).toString('latin1');
      this.#buffer = this.#buffer.subarray(end + 4);
    }
    for (;;) {
      if (this.#left === undefined) {
        const eol = this.#buffer.indexOf('\r\n');
        if (eol === -1) return out;
        this.#left = Number.parseInt(this.#buffer.subarray(0, eol).toString('latin1'), 16);
        this.#buffer = this.#buffer.subarray(eol + 2);
        if (this.#left === 0) return out;
      }
      if (this.#buffer.length < this.#left + 2) {
        // Hand out what there is of the chunk; its CRLF comes later.
        const take = Math.min(this.#left, this.#buffer.length);
        if (take > 0) out.push(Buffer.from(this.#buffer.subarray(0, take)));
        this.#left -= take;
        this.#buffer = this.#buffer.subarray(take);
        if (this.#left > 0 || this.#buffer.length < 2) return out;
      } else if (this.#left > 0) {
        out.push(Buffer.from(this.#buffer.subarray(0, this.#left)));
        this.#buffer = this.#buffer.subarray(this.#left);
        this.#left = 0;
      }
      // The chunk's CRLF.
      this.#buffer = this.#buffer.subarray(2);
      this.#left = undefined;
    }
  }
}
