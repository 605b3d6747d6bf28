import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ViewSnapshot } from '@herald/sdk';
import { agentHttpErrors, type AgentHttpErrorCode } from './errors.js';

/** What the HTTP endpoint needs from the agent. */
export interface ViewSource {
  /** Every view the agent follows, with what it holds (undefined before its first values). */
  views(): ReadonlyArray<{ namespace: string; labels: readonly string[]; snapshot: ViewSnapshot | undefined }>;
  /** The agent's health as last reported. */
  health(): { status: string; detail: string };
  /** The upstream endpoint in use (one of `url`'s), since when, and whether its stream is up. */
  upstream(): { endpoint: string; since: number; connected: boolean };
  readonly serveSecrets: boolean;
  /** The agent's metrics in the Prometheus text format. */
  metrics(): string;
}

interface Problem {
  code: AgentHttpErrorCode;
  detail: string;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  503: 'Service Unavailable',
};

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(response.req.method === 'HEAD' ? undefined : text);
}

function problem(response: ServerResponse, p: Problem, headers: Record<string, string> = {}): void {
  const status = agentHttpErrors[p.code];
  const body = {
    type: 'about:blank',
    title: titles[status] ?? 'Error',
    status,
    code: p.code,
    detail: p.detail,
    instance: response.req.url ?? '',
  };
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, {
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(response.req.method === 'HEAD' ? undefined : text);
}

/** The names a loopback listener answers to; any other Host header is a DNS-rebinding attempt from a browser. */
function allowedHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  const names = ['127.0.0.1', 'localhost', '[::1]'];
  return (
    names.some((name) => host === name || host === `${name}:${port}`) || /^127(?:\.\d{1,3}){3}(?::\d+)?$/u.test(host)
  );
}

function body(snapshot: ViewSnapshot): Record<string, unknown> {
  return {
    namespace: snapshot.namespace,
    labels: snapshot.labels,
    seq: snapshot.seq,
    revision: snapshot.revision,
    digest: snapshot.digest,
    issuedAt: snapshot.issuedAt,
    source: snapshot.source,
    values: snapshot.values,
    manifest: snapshot.manifest,
    signature: snapshot.signature,
  };
}

function sameLabels(a: readonly string[], b: readonly string[]): boolean {
  const x = a.length === 0 ? [''] : a;
  const y = b.length === 0 ? [''] : b;
  return x.length === y.length && x.every((label, i) => label === y[i]);
}

/**
 * The agent's local HTTP endpoint, read-only, for programs that would rather ask than read a file:
 *
 * - `GET /v1/views/{namespace}?label=…` (labels repeated, lowest priority first; none when the
 *   namespace is followed with one label stack only) → 200 `{namespace, labels, seq, revision,
 *   digest, issuedAt, source, values, manifest, signature}` with `ETag: "<digest>"`;
 *   `If-None-Match` with that ETag → 304. 404 for a view the agent does not follow, 503 before it
 *   has values, 403 for a view with secrets unless `http.serveSecrets`.
 * - `GET /v1/views` → the views followed, with seq and digest.
 * - `GET /healthz` → 200 `{status, detail, upstream, views}` once every view has values, else 503;
 *   `upstream` is the endpoint in use (`endpoint`, `since`, `connected`).
 * - `GET /metrics` → the agent's metrics (Prometheus text; docs/operations.md "## Metrics").
 *
 * It answers only to a loopback Host header, so a web page cannot reach it by DNS rebinding.
 */
export class LocalHttp {
  readonly #source: ViewSource;
  readonly #server: Server;
  #port = 0;

  constructor(source: ViewSource) {
    this.#source = source;
    this.#server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (request, response) =>
      this.#handle(request, response),
    );
    this.#server.keepAliveTimeout = 5_000;
  }

  /** Listens and resolves with the URL (the port chosen when 0 was asked). */
  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo;
    this.#port = address.port;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shown}:${address.port}`;
  }

  /** Stops listening and ends every connection (idle ones at once, busy ones after their answer). */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const timer = setTimeout(() => this.#server.closeAllConnections(), 2_000);
    await closed;
    clearTimeout(timer);
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    if (!allowedHost(request.headers.host, this.#port)) {
      problem(response, {
        code: 'forbidden_host',
        detail: 'this endpoint answers only to a loopback Host (127.0.0.1, localhost, [::1])',
      });
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      problem(response, { code: 'method_not_allowed', detail: 'the agent serves GET only' }, { allow: 'GET, HEAD' });
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const views = this.#source.views();
    if (url.pathname === '/healthz') {
      const ready = views.every((v) => v.snapshot !== undefined);
      const health = this.#source.health();
      const upstream = this.#source.upstream();
      send(response, ready ? 200 : 503, {
        status: ready ? health.status : 'starting',
        detail: ready ? health.detail : 'waiting for the first values of every view',
        upstream: { ...upstream, since: new Date(upstream.since).toISOString() },
        views: views.map((v) => ({
          namespace: v.namespace,
          labels: v.labels,
          seq: v.snapshot?.seq ?? null,
          digest: v.snapshot?.digest ?? null,
          source: v.snapshot?.source ?? null,
        })),
      });
      return;
    }
    if (url.pathname === '/metrics') {
      const text = this.#source.metrics();
      response.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
      });
      response.end(request.method === 'HEAD' ? undefined : text);
      return;
    }
    if (url.pathname === '/v1/views') {
      send(response, 200, {
        items: views.map((v) => ({
          namespace: v.namespace,
          labels: v.labels,
          seq: v.snapshot?.seq ?? null,
          digest: v.snapshot?.digest ?? null,
        })),
      });
      return;
    }
    const match = /^\/v1\/views\/([^/]+)$/u.exec(url.pathname);
    if (!match) {
      problem(response, {
        code: 'not_found',
        detail: `no such path ${url.pathname} (try /v1/views/{namespace} or /healthz)`,
      });
      return;
    }
    let namespace: string;
    try {
      namespace = decodeURIComponent(match[1] ?? '');
    } catch {
      problem(response, {
        code: 'invalid_request',
        detail: 'the namespace is not valid percent-encoding',
      });
      return;
    }
    const asked = url.searchParams.has('label') ? url.searchParams.getAll('label') : undefined;
    const candidates = views.filter((v) => v.namespace === namespace);
    const view =
      asked === undefined
        ? candidates.length === 1
          ? candidates[0]
          : undefined
        : candidates.find((v) => sameLabels(v.labels, asked));
    if (!view) {
      if (asked === undefined && candidates.length > 1) {
        const stacks = candidates.map((c) => JSON.stringify(c.labels)).join(', ');
        problem(response, {
          code: 'ambiguous_view',
          detail: `namespace "${namespace}" is followed with several label stacks (${stacks}): name one with label=…`,
        });
      } else {
        problem(response, {
          code: 'unknown_view',
          detail: `the agent does not follow ${JSON.stringify(namespace)} with labels ${JSON.stringify(asked ?? [])}`,
        });
      }
      return;
    }
    const snapshot = view.snapshot;
    if (!snapshot) {
      problem(
        response,
        { code: 'not_ready', detail: 'the agent has no values for this view yet' },
        { 'retry-after': '1' },
      );
      return;
    }
    if (snapshot.manifest.secrets && !this.#source.serveSecrets) {
      problem(response, {
        code: 'secrets_not_served',
        detail:
          'this view carries secrets: read its file, or set http.serveSecrets: true to serve it to every local process',
      });
      return;
    }
    const etag = `"${snapshot.digest}"`;
    const ifNoneMatch = request.headers['if-none-match'];
    if (
      ifNoneMatch !== undefined &&
      ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === `W/${etag}`)
    ) {
      response.writeHead(304, { etag, 'cache-control': 'no-store' });
      response.end();
      return;
    }
    send(response, 200, body(snapshot), { etag });
  }
}
