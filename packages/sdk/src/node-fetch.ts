import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/** A client certificate to present, and the CAs to trust for the server's (PEM text or bytes). */
export interface ClientTlsOptions {
  /** The client certificate (PEM); with `key`, the server can authenticate the caller by it (mutual TLS). */
  cert?: string | Buffer | undefined;
  /** The private key of `cert` (PEM). */
  key?: string | Buffer | undefined;
  /** The CAs that sign the server's certificate, in place of the system's. */
  ca?: string | Buffer | undefined;
}

/** Statuses whose responses have no body: a web Response refuses to be built with one. */
const nullBodyStatuses = new Set([101, 204, 205, 304]);

/**
 * A fetch over node:http and node:https, the SDK's default. Herald's clients use only a little of
 * fetch (a method, string headers, a string body, a signal, a streamed response body), so this is
 * that little, for two reasons:
 * - Node 20's own fetch (undici) costs about 190 µs of CPU per small request on these machines,
 *   against about 30 µs for this (a report's POST, measured side by side in one process), and an
 *   instance sends a report after every update it applies;
 * - Node's fetch takes no TLS options without the undici package, and a client certificate needs
 *   them (`tls`: then only https: URLs are accepted).
 * One keep-alive agent per call of nodeFetch: connections are reused across requests. Nothing is
 * followed or decoded: Herald answers no redirects and compresses nothing.
 */
export function nodeFetch(tls?: ClientTlsOptions): typeof globalThis.fetch {
  if (tls !== undefined && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError('tls.cert and tls.key go together');
  }
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    ...(tls?.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls?.key === undefined ? {} : { key: tls.key }),
    ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
  });
  const httpAgent = tls === undefined ? new HttpAgent({ keepAlive: true }) : undefined;
  const fetchOverNode = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const secure = url.protocol === 'https:';
    if (!secure && (httpAgent === undefined || url.protocol !== 'http:')) {
      return Promise.reject(
        new TypeError(
          httpAgent === undefined
            ? `a client certificate needs an https: URL, not ${url.protocol}`
            : `an http: or https: URL is needed, not ${url.protocol}`,
        ),
      );
    }
    const headers = new Headers(init.headers);
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== 'string') {
      return Promise.reject(new TypeError('nodeFetch sends string bodies only'));
    }
    if (typeof body === 'string') headers.set('content-length', String(Buffer.byteLength(body)));
    return new Promise<Response>((resolve, reject) => {
      const options = {
        method: init.method ?? 'GET',
        headers: Object.fromEntries(headers.entries()),
        ...(init.signal ? { signal: init.signal } : {}),
      };
      const answered = (res: IncomingMessage): void => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v);
          else if (value !== undefined) responseHeaders.set(name, value);
        }
        const status = res.statusCode ?? 0;
        const stream = nullBodyStatuses.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        if (stream === null) res.resume();
        resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
      };
      const req: ClientRequest = secure
        ? httpsRequest(url, { ...options, agent: httpsAgent }, answered)
        : httpRequest(url, { ...options, agent: httpAgent }, answered);
      // As Node's fetch does, a network failure is a TypeError whose cause carries the system code.
      // An abort rejects with the signal's reason, as fetch does (callers tell their own aborts so).
      req.on('error', (cause) =>
        reject(init.signal?.aborted ? (init.signal.reason as Error) : new TypeError('fetch failed', { cause })),
      );
      req.end(body ?? undefined);
    });
  };
  return fetchOverNode;
}

/** nodeFetch presenting a client certificate (and trusting `ca`): https: URLs only. */
export function tlsFetch(tls: ClientTlsOptions): typeof globalThis.fetch {
  return nodeFetch(tls);
}
