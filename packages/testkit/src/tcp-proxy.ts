import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * Delivers chunks in order, each no earlier than `delayMs` after it arrived and, with a rate,
 * no faster than `bytesPerSecond` allows (a link's latency and bandwidth, as netem would add).
 */
class DelayLine {
  readonly #queue: Array<{ at: number; deliver: () => void }> = [];
  #timer: NodeJS.Timeout | undefined;
  #lastAt = 0;

  readonly #shape: () => { delayMs: number; bytesPerSecond: number };

  constructor(shape: () => { delayMs: number; bytesPerSecond: number }) {
    this.#shape = shape;
  }

  push(bytes: number, deliver: () => void): void {
    const { delayMs, bytesPerSecond } = this.#shape();
    const now = performance.now();
    const sending = bytesPerSecond > 0 ? (bytes * 1000) / bytesPerSecond : 0;
    const at = Math.max(now + delayMs, this.#lastAt + sending);
    this.#lastAt = at;
    this.#queue.push({ at, deliver });
    this.#arm();
  }

  /** Whether chunks wait in the line (a later one must queue behind them even when unshaped). */
  get pending(): boolean {
    return this.#queue.length > 0;
  }

  clear(): void {
    this.#queue.length = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        const now = performance.now();
        while (this.#queue[0] !== undefined && this.#queue[0].at <= now + 0.5) this.#queue.shift()?.deliver();
        this.#arm();
      },
      Math.max(0, head.at - performance.now()),
    );
  }
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Open across a blackhole healed with `strand`: nothing goes through it any more. */
  stranded: boolean;
}

/**
 * A TCP proxy (on 127.0.0.1 port 0 unless told where) in front of a real server, for fault tests
 * and for the links between regions of a topology (netns.ts; this kernel has no netem):
 * `shape()` adds latency and a bandwidth cap to every chunk, both ways;
 * `blackhole()` stops forwarding in both directions without closing anything, as a network that
 * silently drops packets does (new connections are accepted and then hear nothing); `heal()`
 * forwards again, including what was held back (or, `heal({ strand: true })`, only for new
 * connections: those open across the outage stay silent, as through a middlebox that lost their
 * state); `cut()` closes every connection. `pause()` stops
 * reading from every socket (new connections too), as a SIGSTOPped server does: the kernel's
 * buffers fill and the peer's writes stall, nothing is closed; `resume()` reads again.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  /** What arrived while blackholed, to deliver on heal (TCP would retransmit it). */
  #held: Array<{ pair: Pair; deliver: () => void }> = [];
  #blackholed = false;
  #paused = false;
  #shape = { delayMs: 0, bytesPerSecond: 0 };

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  static async start(
    target: { host: string; port: number },
    listen = { host: '127.0.0.1', port: 0 },
  ): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, target);
    server.on('connection', (client) => proxy.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
    return proxy;
  }

  /** Latency (one way, milliseconds) and a bandwidth cap (bytes per second each way; 0: none) from now on. */
  shape(shape: { delayMs?: number; bytesPerSecond?: number }): void {
    this.#shape = { delayMs: shape.delayMs ?? 0, bytesPerSecond: shape.bytesPerSecond ?? 0 };
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy is not listening');
    return address.port;
  }

  /** Stops forwarding (both ways, every connection, new ones too) without closing any. */
  blackhole(): void {
    this.#blackholed = true;
  }

  /** Forwards again; with `strand`, only on connections opened from now on. */
  heal(options: { strand?: boolean } = {}): void {
    this.#blackholed = false;
    const held = this.#held;
    this.#held = [];
    if (options.strand) for (const pair of this.#pairs) pair.stranded = true;
    for (const { pair, deliver } of held) if (!pair.stranded) deliver();
  }

  /** Stops reading from every socket, both ways, new connections too, closing none (a paused process). */
  pause(): void {
    this.#paused = true;
    for (const { client, upstream } of this.#pairs) {
      client.pause();
      upstream.pause();
    }
  }

  /** Reads again. */
  resume(): void {
    this.#paused = false;
    for (const { client, upstream } of this.#pairs) {
      client.resume();
      upstream.resume();
    }
  }

  /** Closes every connection through the proxy. */
  cut(): void {
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = createConnection(this.#target);
    const pair: Pair = { client, upstream, stranded: false };
    this.#pairs.add(pair);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    // The server's close is news that travels like data: held while blackholed, lost once
    // stranded (the client keeps a connection that hears nothing, until it gives up on it).
    const serverClosed = (): void => {
      if (pair.stranded) return;
      if (this.#blackholed) this.#held.push({ pair, deliver: end });
      else end();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', serverClosed).on('close', serverClosed);
    const forward = (to: Socket) => {
      const line = new DelayLine(() => this.#shape);
      to.once('close', () => line.clear());
      return (chunk: Buffer) => {
        const write = (): void => {
          if (!to.destroyed) to.write(chunk);
        };
        const deliver = (): void => {
          if (this.#shape.delayMs > 0 || this.#shape.bytesPerSecond > 0 || line.pending) line.push(chunk.length, write);
          else write();
        };
        if (pair.stranded) return;
        if (this.#blackholed) this.#held.push({ pair, deliver });
        else deliver();
      };
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    if (this.#paused) {
      client.pause();
      upstream.pause();
    }
  }
}
