import { Agent, request } from 'node:https';
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
 * A fetch over node:https that presents a client certificate. Node's own fetch takes no TLS
 * options without the undici package, and Herald's clients use only a little of fetch (a method,
 * string headers, a string body, a signal, a streamed response body), so this is that little.
 * One keep-alive agent per call of tlsFetch: connections are reused across requests.
 */
export function tlsFetch(tls: ClientTlsOptions): typeof globalThis.fetch {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError('tls.cert and tls.key go together');
  }
  const agent = new Agent({
    keepAlive: true,
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
  });
  const fetchOverTls = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'https:') {
      return Promise.reject(new TypeError(`a client certificate needs an https: URL, not ${url.protocol}`));
    }
    const headers = new Headers(init.headers);
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== 'string') {
      return Promise.reject(new TypeError('tlsFetch sends string bodies only'));
    }
    if (typeof body === 'string') headers.set('content-length', String(Buffer.byteLength(body)));
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        {
          method: init.method ?? 'GET',
          headers: Object.fromEntries(headers.entries()),
          agent,
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v);
            else if (value !== undefined) responseHeaders.set(name, value);
          }
          const status = res.statusCode ?? 0;
          const stream = nullBodyStatuses.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
          if (stream === null) res.resume();
          resolve(new Response(stream, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
        },
      );
      // As Node's fetch does, a network failure is a TypeError whose cause carries the system code.
      // An abort rejects with the signal's reason, as fetch does (callers tell their own aborts so).
      req.on('error', (cause) =>
        reject(init.signal?.aborted ? (init.signal.reason as Error) : new TypeError('fetch failed', { cause })),
      );
      req.end(body ?? undefined);
    });
  };
  return fetchOverTls;
}
