import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { errorCatalogue, HeraldError, type ErrorCode } from '@herald/core';
import { problemContentType, toProblem } from './problem.js';

/** The bounds one node puts on its connections (ServerConfig and RelayConfig share them). */
export interface ConnectionLimits {
  /** Open connections at most; past it a new one is answered 503 `too_many_connections` and closed. */
  maxConnections: number;
  /** Milliseconds for a request's headers to arrive (slowloris). */
  headersTimeoutMs: number;
  /** Milliseconds for a whole request, headers and body, to arrive (a stalled body). Streams' responses are not bound by it. */
  requestTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection is kept. */
  keepAliveTimeoutMs: number;
}

export function connectionLimitsOf(config: ConnectionLimits): ConnectionLimits {
  const { maxConnections, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = config;
  return { maxConnections, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs };
}

/** How HTTPS is served: a certificate, its key, and the CAs of client certificates when they are asked for. */
export interface TlsSettings {
  cert: string | Buffer;
  key: string | Buffer;
  clientCa?: string | Buffer | undefined;
}

export function httpsOptions(tls: TlsSettings): object {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa === undefined
      ? {}
      : {
          ca: tls.clientCa,
          requestCert: true,
          // The handshake does not refuse: a request without a certificate may still carry a token,
          // and a bad certificate gets a problem+json 401 that says why, not a bare TLS alert.
          rejectUnauthorized: false,
        }),
  };
}

/** A whole HTTP/1.1 response for a socket no request object exists for; the connection closes after it. */
export function rawProblem(code: ErrorCode, detail: string, retryAfterSeconds?: number): string {
  const body = JSON.stringify(toProblem(new HeraldError(code, detail), 'connection'));
  const status = errorCatalogue[code].status;
  return [
    `HTTP/1.1 ${status} ${errorCatalogue[code].title}`,
    `content-type: ${problemContentType}`,
    `content-length: ${Buffer.byteLength(body)}`,
    ...(retryAfterSeconds === undefined ? [] : [`retry-after: ${retryAfterSeconds}`]),
    'connection: close',
    '',
    body,
  ].join('\r\n');
}

/**
 * Node's clientError (bytes that are not HTTP, a header block over 16 KiB, a request not received
 * within its timeout): answered with problem+json where a response can still be written, then closed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const [code, detail]: [ErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ['headers_too_large', 'the request headers are larger than 16 KiB']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['request_timeout', 'the request was not received in time']
        : ['invalid_http', `the request is not valid HTTP (${error.code ?? 'parse error'})`];
  socket.end(rawProblem(code, detail));
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Makes the node's HTTP(S) server with the timeouts set at construction (Node checks them every
 * `connectionsCheckingInterval`, so that interval follows the shortest timeout) and a connection
 * cap that answers rather than silently dropping (Node's own `maxConnections` closes the socket
 * unanswered).
 */
export function createLimitedServer(
  handler: Handler,
  limits: ConnectionLimits,
  options: {
    /** The options of the HTTPS server (certificate, key, client CA), or null for plain HTTP. */
    tls: object | null;
    retryAfterSeconds: number;
    onRefused: () => void;
  },
): Server {
  const nodeOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs, 30_000) / 4),
  };
  const server: Server = options.tls
    ? createHttpsServer({ ...nodeOptions, ...options.tls }, handler)
    : createHttpServer(nodeOptions, handler);
  const accept = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  let open = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= limits.maxConnections) {
      options.onRefused();
      // A TLS socket cannot take plain bytes before its handshake: it is closed unanswered.
      if (options.tls) socket.destroy();
      else
        socket.end(
          rawProblem(
            'too_many_connections',
            `this node holds ${limits.maxConnections} connections`,
            options.retryAfterSeconds,
          ),
        );
      return;
    }
    open += 1;
    socket.once('close', () => (open -= 1));
    for (const listener of accept) listener.call(server, socket);
  });
  return server;
}
