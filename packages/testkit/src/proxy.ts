// A man in the middle for tests: a TCP proxy on 127.0.0.1 that forwards both ways and can alter
// or inject Server-Sent Events on the server → client side of watch streams. Other responses
// (reports, keys) pass untouched.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** A complete event as it crosses the proxy: `data` is the data line decoded as latin1 (one char per byte). */
export interface ProxiedEvent {
  type: string;
  data: string;
}

/**
 * Returns new data for the event (the same number of bytes: the chunk framing is kept), or
 * undefined to pass it unchanged.
 */
export type EventTamperer = (event: ProxiedEvent) => string | undefined;

// Frames from the server end with the event's blank line and the chunk's CRLF.
const frameEnd = Buffer.from('\n\n\r\n', 'latin1');

class Link {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Set once the response says text/event-stream: from then on, complete frames are forwarded one by one. */
  sse = false;
  held: Buffer = Buffer.alloc(0);
  readonly injections: Buffer[] = [];

  constructor(client: Socket, upstream: Socket) {
    this.client = client;
    this.upstream = upstream;
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }
}

export class TamperingProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #links = new Set<Link>();
  /** Applied to every complete event while set. */
  tamper: EventTamperer | undefined;
  /** How many events the tamperer changed. */
  tampered = 0;
  url = '';

  private constructor(target: URL) {
    this.#target = { host: target.hostname, port: Number(target.port) };
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Listens on 127.0.0.1 port 0, forwarding to `target` (an http:// URL). */
  static async start(target: string): Promise<TamperingProxy> {
    const proxy = new TamperingProxy(new URL(target));
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    if (!address || typeof address === 'string') throw new Error('the proxy has no port');
    proxy.url = `http://127.0.0.1:${address.port}`;
    return proxy;
  }

  /** Watch streams open through the proxy now. */
  get streams(): number {
    return [...this.#links].filter((link) => link.sse && !link.client.destroyed).length;
  }

  /**
   * Writes `frame` (e.g. a captured event re-framed with sseChunk) to every open watch stream,
   * between two of the server's frames. Returns how many streams got it.
   */
  inject(frame: Buffer): number {
    let count = 0;
    for (const link of this.#links) {
      if (!link.sse || link.client.destroyed) continue;
      if (link.held.length === 0) link.client.write(frame);
      else link.injections.push(frame);
      count += 1;
    }
    return count;
  }

  /** Cuts every connection (both sides) now. */
  cutAll(): void {
    for (const link of this.#links) link.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = createConnection(this.#target);
    const link = new Link(client, upstream);
    this.#links.add(link);
    const drop = (): void => {
      this.#links.delete(link);
      link.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('data', (chunk: Buffer) => this.#fromServer(link, chunk));
    upstream.on('end', () => {
      if (link.held.length > 0) link.client.write(link.held);
      link.held = Buffer.alloc(0);
      link.client.end();
    });
  }

  #fromServer(link: Link, chunk: Buffer): void {
    if (!link.sse) {
      if (!chunk.toString('latin1').includes('text/event-stream')) {
        link.client.write(chunk);
        return;
      }
      link.sse = true;
    }
    let buffer = link.held.length === 0 ? chunk : Buffer.concat([link.held, chunk]);
    const end = buffer.lastIndexOf(frameEnd);
    if (end === -1) {
      link.held = buffer;
      return;
    }
    const complete = buffer.subarray(0, end + frameEnd.length);
    link.held = Buffer.from(buffer.subarray(end + frameEnd.length));
    buffer = this.tamper ? this.#alter(complete) : complete;
    link.client.write(buffer);
    for (const frame of link.injections.splice(0)) link.client.write(frame);
  }

  /** Runs the tamperer over each event of complete frames; byte lengths never change. */
  #alter(frames: Buffer): Buffer {
    const text = frames.toString('latin1');
    const pattern = /event: ([^\n]*)\ndata: ([^\n]*)\n\n/gu;
    let out = '';
    let last = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const [whole, type, data] = match as unknown as [string, string, string];
      const replaced = this.tamper?.({ type, data });
      if (replaced === undefined) continue;
      if (replaced.length !== data.length) throw new Error('a tamperer must keep the length of the data');
      this.tampered += 1;
      const dataAt = match.index + whole.indexOf('data: ') + 'data: '.length;
      out += text.slice(last, dataAt) + replaced;
      last = dataAt + data.length;
    }
    out += text.slice(last);
    return Buffer.from(out, 'latin1');
  }
}
