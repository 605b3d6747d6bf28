/**
 * An incremental Server-Sent Events parser, after the WHATWG HTML "event stream interpretation":
 * lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are
 * one line end); `field: value` with one optional space after the colon; several `data:` lines are
 * joined with "\n"; a line starting with ":" is a comment; a blank line dispatches the event; an
 * event with no `data:` line is not dispatched; an unfinished event at the end is dropped; a UTF-8
 * byte-order mark at the very start is skipped. Chunks may split anything, including a multi-byte
 * UTF-8 character. Pure: no I/O, no timers.
 */

export interface SseEvent {
  /** The `event:` field, or "message" when the event had none. */
  type: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last `id:` seen on the stream so far ("" when none). */
  lastEventId: string;
}

export interface SseParserOptions {
  /**
   * Bound on one event (its unfinished line plus its data so far), in UTF-16 code units. Past it
   * `push` throws an SseError: a stream that never ends a line must not exhaust memory.
   * Default 64 MiB.
   */
  maxEventSize?: number;
}

export class SseError extends Error {
  readonly code = 'sse_event_too_large';

  constructor(message: string) {
    super(message);
    this.name = 'SseError';
  }
}

const lineEnd = /[\r\n]/gu;

export class SseParser {
  readonly #maxEventSize: number;
  readonly #decoder = new TextDecoder('utf-8');
  #started = false;
  /** The previous chunk ended with CR: an LF at the start of the next chunk belongs to it. */
  #afterCr = false;
  /** Pieces of the current unfinished line. */
  #partial: string[] = [];
  #partialSize = 0;
  #eventType = '';
  #data: string[] = [];
  #dataSize = 0;
  #lastEventId = '';
  #retry: number | undefined;

  constructor(options: SseParserOptions = {}) {
    this.#maxEventSize = options.maxEventSize ?? 64 * 1024 * 1024;
  }

  /** The last `retry:` value (milliseconds) the stream sent, if any. */
  get retry(): number | undefined {
    return this.#retry;
  }

  /** Feeds bytes (decoded as UTF-8, streaming) or text; returns the events completed by it. */
  push(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    const events: SseEvent[] = [];
    this.#feed(text, events);
    return events;
  }

  /**
   * Ends the stream. Returns true when an unfinished event was dropped (the stream stopped between
   * its first line and its blank line), which a client may treat as a truncated stream.
   */
  end(): boolean {
    const rest = this.#decoder.decode();
    if (rest.length > 0) this.#feed(rest, []);
    const truncated = this.#partialSize > 0 || this.#data.length > 0 || this.#eventType !== '';
    this.#partial = [];
    this.#partialSize = 0;
    this.#data = [];
    this.#dataSize = 0;
    this.#eventType = '';
    return truncated;
  }

  #feed(text: string, events: SseEvent[]): void {
    let start = 0;
    if (text.length === 0) return;
    if (!this.#started) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    if (this.#afterCr) {
      this.#afterCr = false;
      if (text.charCodeAt(start) === 10) start += 1;
    }
    lineEnd.lastIndex = start;
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      const at = match.index;
      const piece = text.slice(start, at);
      let line: string;
      if (this.#partial.length > 0) {
        this.#partial.push(piece);
        line = this.#partial.join('');
        this.#partial = [];
        this.#partialSize = 0;
      } else {
        line = piece;
      }
      this.#line(line, events);
      start = at + 1;
      if (text.charCodeAt(at) === 13) {
        if (at + 1 === text.length) this.#afterCr = true;
        else if (text.charCodeAt(at + 1) === 10) start += 1;
      }
      lineEnd.lastIndex = start;
    }
    if (start < text.length) {
      const piece = text.slice(start);
      this.#partial.push(piece);
      this.#partialSize += piece.length;
      this.#checkSize();
    }
  }

  #line(line: string, events: SseEvent[]): void {
    if (line.length === 0) {
      this.#dispatch(events);
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return; // a comment
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#eventType = value;
        break;
      case 'data':
        this.#data.push(value);
        this.#dataSize += value.length + 1;
        this.#checkSize();
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/u.test(value)) this.#retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  #dispatch(events: SseEvent[]): void {
    const type = this.#eventType;
    const data = this.#data;
    this.#eventType = '';
    this.#data = [];
    this.#dataSize = 0;
    if (data.length === 0) return;
    events.push({ type: type === '' ? 'message' : type, data: data.join('\n'), lastEventId: this.#lastEventId });
  }

  #checkSize(): void {
    if (this.#partialSize + this.#dataSize > this.#maxEventSize) {
      throw new SseError(`a Server-Sent Event is larger than ${this.#maxEventSize} characters`);
    }
  }
}
