import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HeraldError, type TimerClock } from '@herald/core';
import { createLimitedServer, type ConnectionLimits } from './connection-limits.js';
import { problemContentType, toProblem } from './problem.js';
import { WatchAdmission } from './watch-admission.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * The node's socket, bound before the server's modules are loaded and its store opened (most of a
 * restart's time on these machines: half a second to two seconds). Until the server takes it over,
 * every request is answered at once: `/healthz` 200 (the process lives), `/readyz` 503 and every
 * other request 503 `starting`, both with Retry-After. A client that reconnects during a restart
 * is told when to come back instead of being refused into a longer backoff; a watch may instead be
 * held for the server to serve the moment it is ready (`holdWatchesMs`).
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
  /** Watches held until the server takes the socket over (holdWatchesMs). */
  readonly heldWatches: number;
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
  watchAdmission?: { perSecond: number; clock: TimerClock } | undefined;
  /**
   * Milliseconds a watch that arrives while the node starts is held, unanswered, for the server to
   * serve once it is ready (at most one second's admissions are held; the rest are told when to
   * come back). A fleet that reconnected during the restart is then served the moment the node is
   * ready, on the connections it already opened, instead of coming back a second or more later
   * to a node that may be idle by then. Past it, the watch is answered `starting`.
   */
  holdWatchesMs?: number | undefined;
}

/** A watch held while the node starts: answered by the server once it takes the socket over, or `starting` at its deadline. */
interface HeldWatch {
  request: IncomingMessage;
  response: ServerResponse;
  timer: unknown;
}

const isWatch = (request: IncomingMessage): boolean =>
  request.method === 'POST' && (request.url ?? '/').split('?')[0] === '/v1/watch';

function starting(options: EarlyListenOptions, pacing: WatchAdmission | undefined, held: Set<HeldWatch>): Handler {
  const probe = Buffer.from(JSON.stringify({ status: 'starting' }));
  const problem = Buffer.from(
    JSON.stringify(toProblem(new HeraldError('starting', 'the server is starting; retry shortly'), 'starting')),
  );
  const holdMs = options.holdWatchesMs ?? 0;
  const maxHeld = options.watchAdmission?.perSecond ?? 0;
  const answer: Handler = (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const isProbe = path === '/healthz' || path === '/readyz';
    // Booked, not admitted: the node's first second once ready is for the watches it holds.
    const retryAfter = pacing && path === '/v1/watch' ? pacing.book() : options.retryAfterSeconds;
    const body = isProbe ? probe : problem;
    response.writeHead(path === '/healthz' ? 200 : 503, {
      'content-type': isProbe ? 'application/json; charset=utf-8' : problemContentType,
      'content-length': body.length,
      ...(path === '/healthz' ? {} : { 'retry-after': String(retryAfter) }),
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  return (request, response) => {
    const clock = options.watchAdmission?.clock;
    if (!clock || holdMs <= 0 || held.size >= maxHeld || !isWatch(request)) return answer(request, response);
    const watch: HeldWatch = {
      request,
      response,
      timer: clock.setTimeout(() => {
        held.delete(watch);
        answer(request, response);
      }, holdMs),
    };
    held.add(watch);
    response.once('close', () => {
      held.delete(watch);
      clock.clearTimeout(watch.timer);
    });
  };
}

/** Binds the node's address now; rejects as `listen` would (EADDRINUSE, EACCES). */
export async function listenEarly(options: EarlyListenOptions): Promise<EarlyListener> {
  const watchAdmission = options.watchAdmission && new WatchAdmission(options.watchAdmission);
  const held = new Set<HeldWatch>();
  let current: Handler = starting(options, watchAdmission, held);
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
    get heldWatches() {
      return held.size;
    },
    adopt(handler, onRefused) {
      if (adopted) throw new Error('the early listener was already taken over');
      adopted = true;
      refused = onRefused;
      // fastify calls listen() once it is ready; the socket is bound already, so "listening" is
      // all there is to do, and from then on its handler answers.
      server.listen = ((..._args: unknown[]) => {
        current = handler;
        queueMicrotask(() => {
          server.emit('listening');
          // The watches held while starting are served now, in the order they came, paced as any other.
          for (const watch of [...held]) {
            held.delete(watch);
            options.watchAdmission?.clock.clearTimeout(watch.timer);
            handler(watch.request, watch.response);
          }
        });
        return server;
      }) as Server['listen'];
      return server;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const watch of held) options.watchAdmission?.clock.clearTimeout(watch.timer);
        held.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
