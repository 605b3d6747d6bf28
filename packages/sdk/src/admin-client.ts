import { parseEndpointList } from './endpoints.js';
import { readProblem, type HttpProblem } from './http-problem.js';
import { nodeFetch } from './node-fetch.js';

/**
 * A small client for Herald's admin API over `nodeFetch`: the CLI uses it, and so can scripts. Errors
 * are HeraldApiError with the server's stable `code` (see docs/errors.md); match on that.
 */
export class HeraldApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly problem: Record<string, unknown>;
  /** Milliseconds the server asked to wait before retrying (Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, problem: Record<string, unknown>, retryAfterMs?: number) {
    super(typeof problem.detail === 'string' ? problem.detail : `HTTP ${status}`);
    this.name = 'HeraldApiError';
    this.status = status;
    this.code = typeof problem.code === 'string' ? problem.code : 'http_error';
    this.problem = problem;
    this.retryAfterMs = retryAfterMs;
  }

  /** The error for a refused request, from what its response said (see readProblem). */
  static fromProblem(problem: HttpProblem): HeraldApiError {
    return new HeraldApiError(problem.status, problem.document ?? { detail: problem.detail }, problem.retryAfterMs);
  }
}

/**
 * Failures that show the request never reached a server, so the next endpoint may take it (a write
 * included): nothing was sent. A reset or a timeout might come after the server acted; those stay.
 */
const neverSent = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export interface AdminClientOptions {
  /** The control plane; or several nodes, in order (a list or commas), the next tried when one refuses connections. */
  url: string | readonly string[];
  token?: string;
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

export class AdminClient {
  readonly #bases: URL[];
  /** The endpoint that last answered: asked first next time. */
  #current = 0;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  /** Its own keep-alive connections, so a client made after a server restart holds none of the old ones. */
  readonly #fetch = nodeFetch();

  constructor(options: AdminClientOptions) {
    try {
      this.#bases = parseEndpointList(options.url);
    } catch (error) {
      throw new TypeError((error as Error).message);
    }
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Path segments are encoded here; callers pass them raw. */
  static path(...segments: string[]): string {
    return segments.map((s) => encodeURIComponent(s)).join('/');
  }

  async request<T>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response | undefined;
    const failures: string[] = [];
    for (let tried = 0; tried < this.#bases.length && !response; tried += 1) {
      const index = (this.#current + tried) % this.#bases.length;
      const base = this.#bases[index]!;
      const url = new URL(path.replace(/^\//u, ''), base);
      for (const [name, value] of Object.entries(options.query ?? {})) {
        if (value === undefined) continue;
        for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
      }
      try {
        response = await this.#fetch(url, {
          method,
          headers,
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        this.#current = index;
      } catch (cause) {
        const reason = (cause as { cause?: { code?: string } }).cause?.code ?? (cause as Error).name;
        failures.push(`${base.origin} (${reason})`);
        if (!neverSent.has(reason)) break;
      }
    }
    if (!response) throw new HeraldApiError(0, { code: 'unreachable', detail: `cannot reach ${failures.join(', ')}` });
    if (response.status >= 400) throw HeraldApiError.fromProblem(await readProblem(response, Date.now()));
    const text = await response.text();
    let body: unknown = undefined;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: response.status, body: body as T, headers: response.headers };
  }

  async get<T>(path: string, options?: RequestOptions): Promise<T> {
    return (await this.request<T>('GET', path, options)).body;
  }

  async post<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return (await this.request<T>('POST', path, { ...options, body })).body;
  }

  async put<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return (await this.request<T>('PUT', path, { ...options, body })).body;
  }

  async delete<T>(path: string, options?: RequestOptions): Promise<T> {
    return (await this.request<T>('DELETE', path, options)).body;
  }

  /** Follows `next` cursors and returns every item; `maxItems` bounds memory for huge listings. */
  async all<T>(path: string, options: RequestOptions = {}, maxItems = 1_000_000): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.get<{ items: T[]; next?: string }>(path, {
        ...options,
        query: { ...options.query, limit: 1000, cursor },
      });
      items.push(...page.items);
      cursor = page.next;
      if (items.length > maxItems) throw new Error(`more than ${maxItems} items at ${path}`);
    } while (cursor);
    return items;
  }
}
