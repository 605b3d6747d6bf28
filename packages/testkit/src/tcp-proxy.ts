import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 port 0 in front of a real server (PostgreSQL), for fault tests:
 * `blackhole()` stops forwarding in both directions without closing anything, as a network that
 * silently drops packets does (new connections are accepted and then hear nothing); `heal()`
 * forwards again, including what was held back; `cut()` closes every connection. `pause()` stops
 * reading from every socket (new connections too), as a SIGSTOPped server does: the kernel's
 * buffers fill and the peer's writes stall, nothing is closed; `resume()` reads again.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** What arrived while blackholed, to deliver on heal (TCP would retransmit it). */
  #held: Array<() => void> = [];
  #blackholed = false;
  #paused = false;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, target);
    server.on('connection', (client) => proxy.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
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

  /** Forwards again. */
  heal(): void {
    this.#blackholed = false;
    const held = this.#held;
    this.#held = [];
    for (const deliver of held) deliver();
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
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    const forward = (to: Socket) => (chunk: Buffer) => {
      const deliver = (): void => {
        if (!to.destroyed) to.write(chunk);
      };
      if (this.#blackholed) this.#held.push(deliver);
      else deliver();
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    if (this.#paused) {
      client.pause();
      upstream.pause();
    }
  }
}
