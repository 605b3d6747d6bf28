// Shared helpers for the server's HTTP tests: raw requests over fetch (so a test controls every
// header and byte) and the checks every problem+json answer must pass.
import type { EntryView } from '@herald/server';
import assert from 'node:assert/strict';
import { errorCatalogue, isErrorCode, type ErrorCode } from '@herald/core';
import type { TestServer } from '@herald/testkit';

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON; undefined otherwise. */
  json: unknown;
}

export interface RawOptions {
  /** Bearer token; the admin token when absent, no Authorization header when null. */
  token?: string | null;
  /** A string or bytes are sent as they are; anything else is JSON-encoded. */
  body?: unknown;
  /** Defaults to application/json when there is a body. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

/** One HTTP request to the test server, with nothing added but what the options say. */
export async function call(
  ts: Pick<TestServer, 'url' | 'adminToken'>,
  method: string,
  path: string,
  options: RawOptions = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? ts.adminToken : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | Uint8Array | undefined;
  if (options.body !== undefined) {
    body =
      typeof options.body === 'string' || options.body instanceof Uint8Array
        ? options.body
        : JSON.stringify(options.body);
    const contentType = options.contentType === undefined ? 'application/json' : options.contentType;
    if (contentType !== null) headers['content-type'] = contentType;
  } else if (options.contentType) {
    headers['content-type'] = options.contentType;
  }
  const response = await fetch(new URL(path, ts.url), { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await response.text();
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  instance: string;
  [extension: string]: unknown;
}

/**
 * Asserts a problem+json answer with this code: the status and title come from the catalogue,
 * and all six members of the problem shape are there. Returns the problem for further checks.
 */
export function assertProblem(response: RawResponse, code: ErrorCode, message?: string): Problem {
  const where = message ? `${message}: ` : '';
  assert.equal(response.status, errorCatalogue[code].status, `${where}status for ${code}; body ${response.text}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/u, `${where}content type`);
  const problem = response.json as Problem;
  assert.equal(typeof problem, 'object', `${where}body is a JSON object: ${response.text}`);
  assert.equal(problem.code, code, `${where}code; detail: ${String(problem.detail)}`);
  assert.ok(isErrorCode(problem.code), `${where}the code is in the catalogue`);
  assert.equal(problem.status, response.status, `${where}problem.status`);
  assert.equal(problem.title, errorCatalogue[code].title, `${where}problem.title`);
  assert.equal(problem.type, `urn:herald:error:${code}`, `${where}problem.type`);
  assert.equal(typeof problem.detail, 'string', `${where}problem.detail`);
  assert.ok(problem.detail.length > 0, `${where}problem.detail is not empty`);
  assert.equal(typeof problem.instance, 'string', `${where}problem.instance`);
  assert.ok(problem.instance.length > 0, `${where}problem.instance is not empty`);
  return problem;
}

/** Path of an entry, with the key encoded as one URL segment. */
export function entryPath(namespace: string, key: string, label?: string): string {
  const query = label === undefined ? '' : `?label=${encodeURIComponent(label)}`;
  return `/v1/namespaces/${encodeURIComponent(namespace)}/entries/${encodeURIComponent(key)}${query}`;
}

/** Creates a token with these scopes through the API and returns the bearer string and its id. */
export async function createToken(
  ts: Pick<TestServer, 'url' | 'adminToken'>,
  scopes: Array<{ namespaces: string; role: string; secrets?: boolean; relay?: boolean }>,
  extra: { name?: string; expiresInSeconds?: number } = {},
): Promise<{ token: string; id: string }> {
  const response = await call(ts, 'POST', '/v1/tokens', { body: { scopes, ...extra } });
  assert.equal(response.status, 201, response.text);
  const body = response.json as { token: string; info: { id: string } };
  return { token: body.token, id: body.info.id };
}

/** Sets one entry through the API and returns it; fails the test on anything but 200. */
export async function setEntry(
  ts: Pick<TestServer, 'url' | 'adminToken'>,
  namespace: string,
  key: string,
  body: Record<string, unknown>,
  label?: string,
): Promise<EntryBody> {
  const response = await call(ts, 'PUT', entryPath(namespace, key, label), { body });
  assert.equal(response.status, 200, response.text);
  return response.json as EntryBody;
}

/** An entry as the admin API answers it: the server's own wire type. */
export type EntryBody = EntryView;

export async function createNamespace(
  ts: Pick<TestServer, 'url' | 'adminToken'>,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const response = await call(ts, 'POST', '/v1/namespaces', { body: { name, ...extra } });
  assert.equal(response.status, 201, response.text);
}

/**
 * Everything a refused request must leave alone: the store revision, the audit log length and the
 * namespaces with their revisions and entry counts.
 */
export async function storeState(ts: TestServer): Promise<{ revision: number; audit: number; namespaces: string }> {
  const revision = await ts.store.currentRevision();
  const audit = (await ts.store.listAudit({ limit: 1_000_000 })).length;
  const namespaces = (await ts.store.listNamespaces({ limit: 1000 }))
    .map((ns) => `${ns.name}@${ns.revision}#${ns.entryCount}`)
    .join(',');
  return { revision, audit, namespaces };
}
