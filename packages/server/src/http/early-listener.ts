import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HeraldError, type Clock } from '@herald/core';
import { createLimitedServer, type ConnectionLimits } from './connection-limits.js';
import { problemContentType, toProblem } from './problem.js';
import { WatchAdmission } from './watch-admission.js';

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
  /**
   * The pacing of watches while the node starts, which the server's watch route carries on: the
   * seconds it booked for clients to come back in stay booked once the node is ready, so the
   * clients told to come back then are not admitted on top of a fresh second's worth.
   */
  readonly watchAdmission: WatchAdmission | undefined;
}

export interface EarlyListenOptions {
  host: string;
  port: number;
  /** The options of the HTTPS server (certificate, key, client CA), or null for plain HTTP. */
  tls: object | null;
  limits: ConnectionLimits;
  /** listen(2)'s backlog (the server config's listenBacklog). */
  backlog: number;
  /** Seconds a client is told to wait while the node starts. */
  retryAfterSeconds: number;
  /**
   * Watches are told when to come back at the pace the node will admit them (watch-admission.ts):
   * a fleet reconnecting during a restart comes back spread over the seconds after it, instead of
   * every second at once while the node is still loading.
   */
  watchAdmission?: { perSecond: number; clock: Clock } | undefined;
}

function starting(options: EarlyListenOptions, pacing: WatchAdmission | undefined): Handler {
  const probe = Buffer.from(JSON.stringify({ status: 'starting' }));
  const problem = Buffer.from(
    JSON.stringify(toProblem(new HeraldError('starting', 'the server is starting; retry shortly'), 'starting')),
  );
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const isProbe = path === '/healthz' || path === '/readyz';
    const retryAfter =
      pacing && path === '/v1/watch' ? (pacing.admit() ?? options.retryAfterSeconds) : options.retryAfterSeconds;
    const body = isProbe ? probe : problem;
    response.writeHead(path === '/healthz' ? 200 : 503, {
      'content-type': isProbe ? 'application/json; charset=utf-8' : problemContentType,
      'content-length': body.length,
      ...(path === '/healthz' ? {} : { 'retry-after': String(retryAfter) }),
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
}

/** Binds the node's address now; rejects as `listen` would (EADDRINUSE, EACCES). */
export async function listenEarly(options: EarlyListenOptions): Promise<EarlyListener> {
  const watchAdmission = options.watchAdmission && new WatchAdmission(options.watchAdmission);
  let current: Handler = starting(options, watchAdmission);
  let refused: () => void = () => undefined;
  const server = createLimitedServer((request, response) => current(request, response), options.limits, {
    tls: options.tls,
    retryAfterSeconds: options.retryAfterSeconds,
    onRefused: () => refused(),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, backlog: options.backlog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let adopted = false;
  return {
    server,
    watchAdmission,
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
