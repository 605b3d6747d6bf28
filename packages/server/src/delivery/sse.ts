import type { Socket } from 'node:net';
import type { WatchEvent, WatchEventData, WatchEventName } from '@herald/core';

/**
 * Server-Sent Events written straight to the socket. Each event is framed once as a complete
 * HTTP/1.1 chunk (size line, SSE text, CRLF), so fanning it out costs one socket write per
 * client and nothing else: no per-client serialisation, no per-write chunk framing. Only the
 * watch stream's events (core's WatchEvent union) can be encoded.
 */
export function encodeEvent(event: WatchEvent): Buffer;
export function encodeEvent<N extends WatchEventName>(event: N, data: WatchEventData<N>): Buffer;
export function encodeEvent(event: WatchEvent | WatchEventName, data?: unknown): Buffer {
  const [name, payload] = typeof event === 'string' ? [event, data] : [event.event, event.data];
  const body = Buffer.from(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'), body, crlf]);
}

const crlf = Buffer.from('\r\n', 'latin1');
const lastChunk = Buffer.from('0\r\n\r\n', 'latin1');

export const sseResponseHead = Buffer.from(
  [
    'HTTP/1.1 200 OK',
    'Content-Type: text/event-stream; charset=utf-8',
    'Cache-Control: no-cache, no-transform',
    'X-Accel-Buffering: no',
    'Transfer-Encoding: chunked',
    'Connection: keep-alive',
    '',
    '',
  ].join('\r\n'),
  'latin1',
);

/**
 * One client's event stream, wherever its socket lives: in this process (EventStream) or in a
 * watch worker (workers/watch-workers.ts). Writes are dropped once it is closed.
 */
export interface WatchStream {
  readonly closed: boolean;
  write(frame: Buffer): void;
  onClose(listener: () => void): void;
  end(): void;
  destroy(): void;
}

/** A stream whose socket this process holds. */
export class EventStream implements WatchStream {
  readonly #socket: Socket;
  readonly #maxBufferedBytes: number;
  #closed = false;
  readonly #onClose: Array<() => void> = [];
  readonly #onCutOff: () => void;
  /** The largest frame queued since the socket's buffer was last seen empty. */
  #largestQueued = 0;

  /** `onCutOff` hears of each client cut off for reading too slowly (a metric). */
  constructor(socket: Socket, maxBufferedBytes: number, onCutOff: () => void = () => undefined) {
    this.#socket = socket;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#onCutOff = onCutOff;
    socket.setNoDelay(true);
    // No TCP keepalive: the heartbeats (every 15 s by default) keep the connection from ever being
    // idle, and Linux sends keepalive probes only on an idle connection, so they would never be
    // sent; a dead peer is found by the heartbeat's retransmission instead. Setting it cost ~20 µs
    // per stream, 6 % of a reconnect storm's CPU.
    socket.setTimeout(0);
    socket.once('close', () => this.#finish());
    socket.on('error', () => this.#finish());
    socket.write(sseResponseHead);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues a pre-encoded frame. A client whose unsent bytes pass the bound is cut off rather than
   * buffered without end: it reconnects with what it holds and gets one delta. The bound is on
   * what is queued beyond the largest frame queued since the buffer was last empty: a snapshot
   * larger than the bound (a large view's) is a client's to read, not a sign that it is slow, and
   * cutting it off then would have it fetch the same snapshot again, and be cut off again, at every
   * release. The frame itself is one buffer shared by every stream it goes to.
   */
  write(frame: Buffer): void {
    if (this.#closed) return;
    const unsent = this.#socket.writableLength;
    if (unsent === 0) this.#largestQueued = 0;
    else if (unsent - this.#largestQueued > this.#maxBufferedBytes) {
      this.#onCutOff();
      // Closed at once, not at the socket's 'close': a write in the same turn is dropped, not counted again.
      this.destroy();
      return;
    }
    if (frame.length > this.#largestQueued) this.#largestQueued = frame.length;
    this.#socket.write(frame);
  }

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#onClose.push(listener);
  }

  /** Ends the stream cleanly (last chunk), then closes the socket. */
  end(): void {
    if (this.#closed) return;
    this.#socket.end(lastChunk);
    this.#finish();
  }

  destroy(): void {
    this.#socket.destroy();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#onClose.splice(0)) listener();
  }
}
