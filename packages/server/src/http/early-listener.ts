import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HeraldError } from '@herald/core';
import { createLimitedServer, type ConnectionLimits } from './connection-limits.js';
import { problemContentType, toProblem } from './problem.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * The node's socket, bound before the server's modules are loaded and its store opened (most of a
 * restart's time on these machines: half a second to two seconds). Until the server takes it over,
 * every request is answered at once: `/healthz` 200 (the process lives), `/readyz` 503 and every
 * other request 503 `starting`, both with Retry-After. A client that reconnects during a restart
 * is told when to come back instead of being refused into a longer backoff.
 */
export interface EarlyListener {
  readonly server: Server;
  /**
   * fastify's `serverFactory`: the listening server, whose requests go to `handler` from the
   * moment fastify "listens" on it (fastify is ready then; the socket stays bound throughout).
   */
  adopt(handler: Handler, onRefused: () => void): Server;
  /** Unbinds the socket (a start that failed before the server took it over). */
  close(): Promise<void>;
}

export interface EarlyListenOptions {
  host: string;
  port: number;
  /** The options of the HTTPS server (certificate, key, client CA), or null for plain HTTP. */
  tls: object | null;
  limits: ConnectionLimits;
  /** Seconds a client is told to wait while the node starts. */
  retryAfterSeconds: number;
}

const starting = (retryAfterSeconds: number): Handler => {
  const probe = Buffer.from(JSON.stringify({ status: 'starting' }));
  const problem = Buffer.from(
    JSON.stringify(toProblem(new HeraldError('starting', 'the server is starting; retry shortly'), 'starting')),
  );
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const healthy = path === '/healthz';
    response.writeHead(healthy ? 200 : 503, {
      'content-type':
        path === '/healthz' || path === '/readyz' ? 'application/json; charset=utf-8' : problemContentType,
      'content-length': healthy || path === '/readyz' ? probe.length : problem.length,
      ...(healthy ? {} : { 'retry-after': String(retryAfterSeconds) }),
    });
    response.end(request.method === 'HEAD' ? undefined : healthy || path === '/readyz' ? probe : problem);
  };
};

/** Binds the node's address now; rejects as `listen` would (EADDRINUSE, EACCES). */
export async function listenEarly(options: EarlyListenOptions): Promise<EarlyListener> {
  let current: Handler = starting(options.retryAfterSeconds);
  let refused: () => void = () => undefined;
  const server = createLimitedServer((request, response) => current(request, response), options.limits, {
    tls: options.tls,
    retryAfterSeconds: options.retryAfterSeconds,
    onRefused: () => refused(),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let adopted = false;
  return {
    server,
    adopt(handler, onRefused) {
      if (adopted) throw new Error('the early listener was already taken over');
      adopted = true;
      refused = onRefused;
      // fastify calls listen() once it is ready; the socket is bound already, so "listening" is
      // all there is to do, and from then on its handler answers.
      server.listen = ((..._args: unknown[]) => {
        current = handler;
        queueMicrotask(() => server.emit('listening'));
        return server;
      }) as Server['listen'];
      return server;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
