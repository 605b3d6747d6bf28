// The one way the UI talks to Herald: the admin API on the same origin, with the Bearer token from
// sign-in. Every failure becomes an ApiError carrying the problem+json fields (code, detail,
// violations, conflicts), so screens show the server's own words.
import { markAnswered, markUnreachable, OfflineError } from './connection.js';
import type { WhoAmI } from './types.js';

const tokenKey = 'herald.token';

export interface Violation {
  path: string;
  message: string;
}

export interface Conflict {
  key: string;
  label: string;
  expected: string;
  actualRevision: number;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly violations: Violation[];
  readonly conflicts: Conflict[];
  readonly instance: string | undefined;

  constructor(status: number, problem: Record<string, unknown>) {
    const detail = typeof problem.detail === 'string' ? problem.detail : `HTTP ${status}`;
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = typeof problem.code === 'string' ? problem.code : `http_${status}`;
    this.detail = detail;
    this.violations = Array.isArray(problem.violations) ? (problem.violations as Violation[]) : [];
    this.conflicts = Array.isArray(problem.conflicts) ? (problem.conflicts as Conflict[]) : [];
    this.instance = typeof problem.instance === 'string' ? problem.instance : undefined;
  }
}

export function loadToken(): string | null {
  return sessionStorage.getItem(tokenKey);
}

export function saveToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(tokenKey);
  else sessionStorage.setItem(tokenKey, token);
}

export type Query = Record<string, string | number | boolean | undefined | null | string[]>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  status: number;
  data: T;
  headers: Headers;
}

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) for (const item of value) params.append(name, item);
    else params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** `db/pool/max` → one path segment, as the API wants keys. */
export const keySegment = (key: string): string => encodeURIComponent(key);
export const nsPath = (ns: string): string => `/v1/namespaces/${encodeURIComponent(ns)}`;

export class Api {
  readonly #token: string;
  readonly #onUnauthorized: (error: ApiError) => void;

  constructor(token: string, onUnauthorized: (error: ApiError) => void = () => undefined) {
    this.#token = token;
    this.#onUnauthorized = onUnauthorized;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: 'application/json',
      ...options.headers,
    };
    const init: RequestInit = { method, headers, cache: 'no-store' };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (options.signal) init.signal = options.signal;
    let response: Response;
    let text: string;
    try {
      response = await fetch(withQuery(path, options.query), init);
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw error;
      markUnreachable();
      throw new OfflineError(error);
    }
    // A proxy in front may answer for a server that is down.
    if (response.status === 502 || response.status === 503 || response.status === 504) markUnreachable();
    else markAnswered();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { detail: text.slice(0, 200) };
      }
    }
    if (response.status >= 400) {
      const error = new ApiError(response.status, (parsed ?? {}) as Record<string, unknown>);
      if (response.status === 401) this.#onUnauthorized(error);
      throw error;
    }
    // The namespace requires approval: the change waits in a change request. Screens show the
    // server's message (with the request's id) where they show a refusal, and nothing was changed.
    const held = parsed as { changeRequest?: { id: string }; message?: string } | null;
    if (response.status === 202 && held?.changeRequest)
      throw new ApiError(202, { code: 'change_request_opened', detail: held.message ?? held.changeRequest.id });
    return { status: response.status, data: parsed as T, headers: response.headers };
  }

  async get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return (await this.request<T>('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) })).data;
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return (await this.request<T>('POST', path, { body })).data;
  }

  async put<T>(path: string, body: unknown, headers?: Record<string, string>, query?: Query): Promise<T> {
    return (await this.request<T>('PUT', path, { body, ...(headers ? { headers } : {}), ...(query ? { query } : {}) }))
      .data;
  }

  async delete<T>(path: string, query?: Query, headers?: Record<string, string>): Promise<T> {
    return (await this.request<T>('DELETE', path, { ...(query ? { query } : {}), ...(headers ? { headers } : {}) }))
      .data;
  }

  /** Every page of a cursor-paged list, up to `maxPages`. */
  async all<T>(
    path: string,
    query: Query = {},
    maxPages = 20,
    signal?: AbortSignal,
  ): Promise<{ items: T[]; complete: boolean }> {
    const items: T[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < maxPages; page += 1) {
      const result = await this.get<{ items: T[]; next?: string | null }>(path, { ...query, cursor }, signal);
      items.push(...result.items);
      if (!result.next) return { items, complete: true };
      cursor = result.next;
    }
    return { items, complete: false };
  }
}

/** Checks a token without keeping it: its identity and scopes, or the server's refusal. */
export async function whoami(token: string): Promise<WhoAmI> {
  return new Api(token).get('/v1/whoami');
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.detail;
  if (error instanceof Error) return error.message;
  return String(error);
}
