import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError, type Limits } from '@herald/core';
import { parseJsonBody } from '../http/body.js';
import type { AccessKeyCaller } from './access-keys.js';
import type { Conditions, Written } from './key-value-writes.js';
import { mediaTypes, pageEtag, type AzureKeyValue, type AzurePage } from './model.js';
import type { RawQuery } from './request-target.js';
import { syncToken } from './sync-token.js';

/** What the Azure routes read from a request and how they answer: headers, conditions, pages, the caller. */

/** The access key each request was signed with, set by the authentication hook. */
export class Callers {
  readonly #callers = new WeakMap<FastifyRequest, AccessKeyCaller>();

  set(request: FastifyRequest, caller: AccessKeyCaller): void {
    this.#callers.set(request, caller);
  }

  has(request: FastifyRequest): boolean {
    return this.#callers.has(request);
  }

  of(request: FastifyRequest): AccessKeyCaller {
    const caller = this.#callers.get(request);
    if (!caller) throw new HeraldError('unauthenticated', 'Missing Authorization header');
    return caller;
  }
}

/** The OpenAPI description of an Azure route. */
export function azureDoc(summary: string) {
  return { schema: { tags: ['azure'], summary, security: [{ azureHmac: [] }] } };
}

export function rawBody(request: FastifyRequest): Buffer | undefined {
  return Buffer.isBuffer(request.body) ? request.body : undefined;
}

export function jsonBody(request: FastifyRequest, limits: Limits): unknown {
  const body = rawBody(request);
  if (!body || body.length === 0) return undefined;
  return parseJsonBody(body, limits);
}

export function bodyLabel(body: unknown): string {
  const label = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).label : undefined;
  return typeof label === 'string' && label !== '\u0000' ? label : '';
}

/** `label` for one key-value: absent, empty and `%00` all mean the null label (Herald's empty label). */
export function labelParam(query: RawQuery): string {
  const label = query.get('label');
  return label === undefined || label === '\u0000' ? '' : label;
}

export function listParams(query: RawQuery): { key?: string; label?: string; tags: string[]; after?: string } {
  const key = query.get('key');
  const label = query.get('label');
  const after = query.get('after');
  return {
    ...(key === undefined ? {} : { key }),
    ...(label === undefined ? {} : { label }),
    tags: query.getAll('tags'),
    ...(after === undefined ? {} : { after }),
  };
}

export function nameParams(
  query: RawQuery,
  asOf: number | undefined,
): { name?: string; after?: string; asOf?: number } {
  const name = query.get('name');
  const after = query.get('after');
  return {
    ...(name === undefined ? {} : { name }),
    ...(after === undefined ? {} : { after }),
    ...(asOf === undefined ? {} : { asOf }),
  };
}

export function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** If-Match / If-None-Match without quotes (the first etag of a list); `*` as is. */
export function conditionsOf(request: FastifyRequest): Conditions {
  const unquote = (value: string | undefined) =>
    value
      ?.split(',')[0]
      ?.trim()
      .replace(/^W\//u, '')
      .replace(/^"(.*)"$/u, '$1');
  const ifMatch = unquote(header(request, 'if-match'));
  const ifNoneMatch = unquote(header(request, 'if-none-match'));
  return { ...(ifMatch === undefined ? {} : { ifMatch }), ...(ifNoneMatch === undefined ? {} : { ifNoneMatch }) };
}

/** `precondition_failed` when If-Match names another etag than the current one. */
export function checkIfMatch(conditions: Conditions, etag: string, what: string): void {
  if (conditions.ifMatch !== undefined && conditions.ifMatch !== '*' && conditions.ifMatch !== etag) {
    throw new HeraldError('precondition_failed', `the ${what} has changed (If-Match)`, {
      extensions: { conflicts: [] },
    });
  }
}

/** True when If-None-Match matches the current etag (a read then answers 304). */
export function ifNoneMatches(conditions: Conditions, etag: string): boolean {
  return conditions.ifNoneMatch !== undefined && (conditions.ifNoneMatch === '*' || conditions.ifNoneMatch === etag);
}

export function keyValueHeaders(reply: FastifyReply, kv: AzureKeyValue): void {
  void reply.header('etag', `"${kv.etag}"`).header('last-modified', new Date(kv.last_modified).toUTCString());
}

/** The answer to a write: the key-value, its etag, and the Sync-Token of the revision the write made. */
export function sendWritten(reply: FastifyReply, written: Written, syncId: string): FastifyReply {
  keyValueHeaders(reply, written.kv);
  void reply.header('sync-token', syncToken(syncId, written.revision));
  return reply.type(mediaTypes.kv).send(JSON.stringify(written.kv));
}

/** The scheme and host the client used, for absolute links (Operation-Location). */
export function origin(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? request.host}`;
}

/**
 * A listing page: body `{items, etag, @nextLink}`, headers ETag and `Link: <…>; rel="next"`. The
 * next link puts `api-version` first and a lowercase `after` next, as the service does (the SDK
 * reads `after` out of it with URLSearchParams). If-None-Match with the page's etag gives 304,
 * which still carries the Link header: the provider's refresh follows it to check later pages.
 */
export function sendPage<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  target: { path: string; query: RawQuery },
  page: AzurePage<T>,
  render: (item: T) => unknown,
  mediaType: string,
  select: readonly string[] | undefined,
): FastifyReply {
  const { path, query } = target;
  const items = page.items.map(render);
  const etag = pageEtag({ select: select ?? null, basis: page.etagBasis });
  const body: Record<string, unknown> = { items, etag };
  if (page.next !== undefined) {
    const apiVersion = query.raw.find((p) => p.name === 'api-version');
    const carried = query.raw.filter((p) => p.name !== 'api-version' && p.name !== 'after').map((p) => p.text);
    const link = `${path}?${[...(apiVersion ? [apiVersion.text] : []), `after=${page.next}`, ...carried].join('&')}`;
    body['@nextLink'] = link;
    void reply.header('link', `<${link}>; rel="next"`);
  }
  void reply.header('etag', `"${etag}"`);
  if (conditionsOf(request).ifNoneMatch === etag) return reply.code(304).send();
  return reply.type(mediaType).send(JSON.stringify(body));
}
