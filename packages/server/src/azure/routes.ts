import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorCatalogue, HeraldError, type Clock, type SecretCipher } from '@herald/core';
import type { Store } from '@herald/store';
import { parseJsonBody } from '../http/body.js';
import type { HeraldApp, RouteContext } from '../http/context.js';
import { Scope, TokenInfo } from '../http/schemas.js';
import { RevisionGate } from '../revision-gate.js';
import { AccessKeys, type AccessKeyCaller } from './access-keys.js';
import { AzureService, type Conditions, type Page } from './azure-service.js';
import { parseHmacAuthorization, verifyHmacRequest } from './hmac.js';
import {
  keyValueFields,
  mediaTypes,
  pageEtag,
  parseSelect,
  project,
  snapshotFields,
  toAzureSnapshot,
  type AzureKeyValue,
} from './model.js';
import { invalidArgument, parseRequestTarget, pathRest, type RawQuery } from './request-target.js';

/**
 * The Azure App Configuration data plane (key-values, labels, keys, revisions, locks, snapshots)
 * on Herald's own port, at the root where the Azure SDKs expect it (`/kv`, `/snapshots`, …: no
 * clash with `/v1`). Requests are authenticated by HMAC-SHA256 with access keys, not by bearer
 * tokens; errors are problem+json in the service's shape. See docs/azure-compat.md.
 */

export interface AzureRouteDeps {
  context: RouteContext;
  store: Store;
  clock: Clock;
  cipher: SecretCipher;
}

const callers = new WeakMap<FastifyRequest, AccessKeyCaller>();

/** Azure problem types for Herald codes that have one; other codes keep Herald's own type. */
const azureErrorTypes: Partial<Record<string, string>> = {
  invalid_request: 'invalid-argument',
  invalid_json: 'invalid-argument',
  invalid_utf8: 'invalid-argument',
  json_too_deep: 'invalid-argument',
  invalid_key: 'invalid-argument',
  invalid_label: 'invalid-argument',
  invalid_tags: 'invalid-argument',
  invalid_value: 'invalid-argument',
  entry_locked: 'key-locked',
  snapshot_exists: 'already-exists',
  body_too_large: 'payload-too-large',
  value_too_large: 'payload-too-large',
};

export function registerAzureRoutes(app: HeraldApp, deps: AzureRouteDeps): void {
  const { context: ctx, store, clock } = deps;
  const keys = new AccessKeys({ store, cipher: deps.cipher, clock, cacheMs: ctx.config.tokenCacheMs });
  const azure = new AzureService({ service: ctx.service, store, clock, limits: ctx.config.limits });
  // Sync-Token: the revision a response reflects, under an id that differs between deployments
  // (so a client that talked to another one never waits for a revision this one will not reach).
  const syncId = `herald-${deps.cipher.fingerprint().slice(0, 8)}`;

  app.post(
    '/v1/azure/access-keys',
    {
      schema: {
        tags: ['tokens'],
        summary:
          'Create an Azure App Configuration access key (HMAC id + secret) bound to one namespace; the secret is in this response only',
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ maxLength: 200 })),
            scopes: Type.Array(Scope, {
              minItems: 1,
              maxItems: 1,
              description: 'Exactly one: the namespace (a name, not a glob) and the role',
            }),
            expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 * 365 * 24 * 3600 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ id: Type.String(), secret: Type.String(), info: TokenInfo }) },
      },
    },
    async (request, reply) => {
      const created = await keys.create(await ctx.principal(request), request.body);
      const { token } = created;
      const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
      return reply.code(201).send({
        id: created.id,
        secret: created.secret,
        info: {
          id: token.id,
          name: token.name,
          scopes: token.scopes,
          createdAt: new Date(token.createdAt).toISOString(),
          createdBy: token.createdBy,
          expiresAt: iso(token.expiresAt),
          revokedAt: iso(token.revokedAt),
        },
      });
    },
  );

  void app.register(async (scope) => {
    const gate = new RevisionGate(store, ctx.config.minRevisionWaitMs);
    scope.addHook('onClose', async () => gate.close());

    // Bodies are kept as bytes: the signature covers their hash, and the SDKs send several content types.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.setErrorHandler((error: FastifyError, request, reply) => sendError(error, request, reply));

    scope.addHook('preHandler', async (request) => {
      const auth = parseHmacAuthorization(request.headers.authorization);
      const key = await keys.resolve(auth.credential);
      verifyHmacRequest(
        {
          method: request.method,
          pathAndQuery: request.raw.url ?? request.url,
          headers: request.headers,
          body: rawBody(request),
        },
        auth,
        key.secret,
        clock.now(),
      );
      callers.set(request, key);
      // Read-your-writes across nodes: wait (briefly) until this node has the revision the client saw.
      const wanted = syncTokenRevision(request.headers['sync-token'], syncId);
      if (wanted !== undefined) await gate.waitFor(wanted).catch(() => undefined);
    });

    scope.addHook('onSend', async (request, reply, payload) => {
      void reply.header('x-ms-request-id', request.id);
      const clientRequestId = request.headers['x-ms-client-request-id'];
      if (typeof clientRequestId === 'string') void reply.header('x-ms-client-request-id', clientRequestId);
      if (callers.has(request) && reply.statusCode < 500 && !reply.hasHeader('sync-token')) {
        const revision = await store.currentRevision().catch(() => undefined);
        if (revision !== undefined) void reply.header('sync-token', syncToken(syncId, revision));
      }
      return payload;
    });

    const doc = (summary: string) => ({ schema: { tags: ['azure'], summary, security: [{ azureHmac: [] }] } });
    const setSync = (reply: FastifyReply, revision: number) =>
      void reply.header('sync-token', syncToken(syncId, revision));

    // --- key-values ---

    scope.get(
      '/kv/*',
      doc('Azure: get a key-value (label, $select; If-None-Match gives 304; Accept-Datetime reads the past)'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const caller = callerOf(request);
        const key = pathRest(path, '/kv/', 'key');
        const select = parseSelect(query.get('$select'), keyValueFields);
        const asOf = await azure.asOf(caller, header(request, 'accept-datetime'));
        const kv = await azure.getKeyValue(caller, key, labelParam(query), asOf);
        if (!kv)
          throw new HeraldError('entry_not_found', 'the key-value does not exist', { extensions: { name: key } });
        const conditions = conditionsOf(request);
        if (conditions.ifMatch !== undefined && conditions.ifMatch !== '*' && conditions.ifMatch !== kv.etag) {
          throw new HeraldError('precondition_failed', 'the key-value has changed (If-Match)', {
            extensions: { conflicts: [] },
          });
        }
        keyValueHeaders(reply, kv);
        if (asOf !== undefined) void reply.header('memento-datetime', new Date(kv.last_modified).toUTCString());
        if (
          conditions.ifNoneMatch !== undefined &&
          (conditions.ifNoneMatch === '*' || conditions.ifNoneMatch === kv.etag)
        )
          return reply.code(304).send();
        return reply.type(mediaTypes.kv).send(JSON.stringify(project(kv, select)));
      },
    );

    scope.put(
      '/kv/*',
      doc('Azure: set a key-value (body {value, content_type, tags}; If-Match, If-None-Match: * to add)'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const body = jsonBody(request, ctx);
        const label = query.has('label') ? labelParam(query) : bodyLabel(body);
        const written = await azure.putKeyValue(
          callerOf(request),
          pathRest(path, '/kv/', 'key'),
          label,
          body,
          conditionsOf(request),
        );
        keyValueHeaders(reply, written.kv);
        setSync(reply, written.revision);
        return reply.type(mediaTypes.kv).send(JSON.stringify(written.kv));
      },
    );

    scope.delete(
      '/kv/*',
      doc('Azure: delete a key-value (200 with it, 204 when there was none; If-Match)'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const deleted = await azure.deleteKeyValue(
          callerOf(request),
          pathRest(path, '/kv/', 'key'),
          labelParam(query),
          conditionsOf(request),
        );
        if (!deleted) return reply.code(204).send();
        keyValueHeaders(reply, deleted.kv);
        setSync(reply, deleted.revision);
        return reply.type(mediaTypes.kv).send(JSON.stringify(deleted.kv));
      },
    );

    scope.get(
      '/kv',
      doc('Azure: list key-values (key, label, tags filters; $select; after; snapshot; Accept-Datetime); pages of 100'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const caller = callerOf(request);
        const select = parseSelect(query.get('$select'), keyValueFields);
        const snapshot = query.get('snapshot');
        const asOf = await azure.asOf(caller, header(request, 'accept-datetime'));
        const page = await azure.listKeyValues(caller, {
          ...listParams(query),
          ...(asOf === undefined ? {} : { asOf }),
          ...(snapshot === undefined ? {} : { snapshot }),
        });
        return sendPage(request, reply, path, query, page, (kv) => project(kv, select), mediaTypes.kvset, select);
      },
    );

    scope.get(
      '/revisions',
      doc('Azure: list revisions of key-values, newest first (key, label, tags filters; $select; after)'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const caller = callerOf(request);
        const select = parseSelect(query.get('$select'), keyValueFields);
        const asOf = await azure.asOf(caller, header(request, 'accept-datetime'));
        const page = await azure.listRevisions(caller, {
          ...listParams(query),
          ...(asOf === undefined ? {} : { asOf }),
        });
        return sendPage(request, reply, path, query, page, (kv) => project(kv, select), mediaTypes.kvset, select);
      },
    );

    scope.get('/keys', doc('Azure: list keys (name filter; after)'), async (request, reply) => {
      const { path, query } = parseRequestTarget(request.url);
      const caller = callerOf(request);
      const asOf = await azure.asOf(caller, header(request, 'accept-datetime'));
      const page = await azure.listKeys(caller, nameParams(query, asOf));
      return sendPage(request, reply, path, query, page, (item) => item, mediaTypes.keyset, undefined);
    });

    scope.get(
      '/labels',
      doc('Azure: list labels (name filter; after; the empty label is null)'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const caller = callerOf(request);
        const select = parseSelect(query.get('$select'), ['name']);
        const asOf = await azure.asOf(caller, header(request, 'accept-datetime'));
        const page = await azure.listLabels(caller, nameParams(query, asOf));
        return sendPage(
          request,
          reply,
          path,
          query,
          page,
          (item) => project(item, select),
          mediaTypes.labelset,
          select,
        );
      },
    );

    // --- locks ---

    const lock = (locked: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const { path, query } = parseRequestTarget(request.url);
      const written = await azure.setLock(
        callerOf(request),
        pathRest(path, '/locks/', 'key'),
        labelParam(query),
        locked,
        conditionsOf(request),
      );
      keyValueHeaders(reply, written.kv);
      setSync(reply, written.revision);
      return reply.type(mediaTypes.kv).send(JSON.stringify(written.kv));
    };
    scope.put('/locks/*', doc('Azure: lock a key-value (read-only: writes get 409 until unlocked)'), lock(true));
    scope.delete('/locks/*', doc('Azure: unlock a key-value'), lock(false));

    // --- snapshots ---

    scope.put(
      '/snapshots/*',
      doc(
        'Azure: create a snapshot (body {filters, composition_type, retention_period, tags}); 201 with Operation-Location',
      ),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const name = pathRest(path, '/snapshots/', 'name');
        const record = await azure.createSnapshot(callerOf(request), name, jsonBody(request, ctx));
        const apiVersion = query.get('api-version');
        const operation = `${origin(request)}/operations?snapshot=${encodeURIComponent(name)}${apiVersion === undefined ? '' : `&api-version=${encodeURIComponent(apiVersion)}`}`;
        return reply
          .code(201)
          .header('operation-location', operation)
          .header('etag', `"${record.etag}"`)
          .header('last-modified', new Date(record.createdAt).toUTCString())
          .type(mediaTypes.snapshot)
          .send(JSON.stringify(toAzureSnapshot(record)));
      },
    );

    scope.get(
      '/snapshots/*',
      doc('Azure: get a snapshot ($select; If-None-Match gives 304)'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const name = pathRest(path, '/snapshots/', 'name');
        const select = parseSelect(query.get('$select'), snapshotFields);
        const record = await azure.getSnapshot(callerOf(request), name);
        void reply
          .header('etag', `"${record.etag}"`)
          .header('last-modified', new Date(record.createdAt).toUTCString())
          .header('link', `</kv?snapshot=${encodeURIComponent(name)}>; rel="items"`);
        const conditions = conditionsOf(request);
        if (conditions.ifMatch !== undefined && conditions.ifMatch !== '*' && conditions.ifMatch !== record.etag) {
          throw new HeraldError('precondition_failed', 'the snapshot has changed (If-Match)', {
            extensions: { conflicts: [] },
          });
        }
        if (
          conditions.ifNoneMatch !== undefined &&
          (conditions.ifNoneMatch === '*' || conditions.ifNoneMatch === record.etag)
        )
          return reply.code(304).send();
        return reply.type(mediaTypes.snapshot).send(JSON.stringify(project(toAzureSnapshot(record), select)));
      },
    );

    scope.patch(
      '/snapshots/*',
      doc('Azure: archive ({"status":"archived"}) or recover ({"status":"ready"}) a snapshot (If-Match)'),
      async (request, reply) => {
        const { path } = parseRequestTarget(request.url);
        const name = pathRest(path, '/snapshots/', 'name');
        const conditions = conditionsOf(request);
        const caller = callerOf(request);
        if (conditions.ifNoneMatch !== undefined) {
          const current = await azure.getSnapshot(caller, name);
          if (conditions.ifNoneMatch === '*' || conditions.ifNoneMatch === current.etag) {
            throw new HeraldError('precondition_failed', 'the snapshot matches If-None-Match', {
              extensions: { conflicts: [] },
            });
          }
        }
        const record = await azure.updateSnapshot(caller, name, jsonBody(request, ctx), conditions.ifMatch);
        return reply
          .header('etag', `"${record.etag}"`)
          .type(mediaTypes.snapshot)
          .send(JSON.stringify(toAzureSnapshot(record)));
      },
    );

    scope.get(
      '/snapshots',
      doc('Azure: list snapshots (name and status filters; $select; after)'),
      async (request, reply) => {
        const { path, query } = parseRequestTarget(request.url);
        const select = parseSelect(query.get('$select'), snapshotFields);
        const status = query.get('status');
        const name = query.get('name');
        const after = query.get('after');
        const page = await azure.listSnapshots(callerOf(request), {
          ...(name === undefined ? {} : { name }),
          ...(status === undefined || status === '*' ? {} : { status }),
          ...(after === undefined ? {} : { after }),
        });
        return sendPage(
          request,
          reply,
          path,
          query,
          page,
          (record) => project(toAzureSnapshot(record), select),
          mediaTypes.snapshotset,
          select,
        );
      },
    );

    scope.get(
      '/operations',
      doc('Azure: the state of a snapshot creation (snapshots are made at once, so it has succeeded)'),
      async (request, reply) => {
        const { query } = parseRequestTarget(request.url);
        const name = query.get('snapshot');
        if (name === undefined) throw invalidArgument('snapshot', 'the snapshot query parameter is required');
        const record = await azure.getSnapshot(callerOf(request), name);
        const failed = record.status === 'failed';
        return reply.type(mediaTypes.json).send(
          JSON.stringify({
            id: name,
            status: failed ? 'Failed' : 'Succeeded',
            error: failed ? { code: 'Failed', message: 'the snapshot could not be made' } : null,
          }),
        );
      },
    );
  });
}

function callerOf(request: FastifyRequest): AccessKeyCaller {
  const caller = callers.get(request);
  if (!caller) throw new HeraldError('unauthenticated', 'Missing Authorization header');
  return caller;
}

function rawBody(request: FastifyRequest): Buffer | undefined {
  return Buffer.isBuffer(request.body) ? request.body : undefined;
}

function jsonBody(request: FastifyRequest, ctx: RouteContext): unknown {
  const body = rawBody(request);
  if (!body || body.length === 0) return undefined;
  return parseJsonBody(body, ctx.config.limits);
}

function bodyLabel(body: unknown): string {
  const label = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).label : undefined;
  return typeof label === 'string' && label !== '\u0000' ? label : '';
}

/** `label` for one key-value: absent, empty and `%00` all mean the null label (Herald's empty label). */
function labelParam(query: RawQuery): string {
  const label = query.get('label');
  return label === undefined || label === '\u0000' ? '' : label;
}

function listParams(query: RawQuery): { key?: string; label?: string; tags: string[]; after?: string } {
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

function nameParams(query: RawQuery, asOf: number | undefined): { name?: string; after?: string; asOf?: number } {
  const name = query.get('name');
  const after = query.get('after');
  return {
    ...(name === undefined ? {} : { name }),
    ...(after === undefined ? {} : { after }),
    ...(asOf === undefined ? {} : { asOf }),
  };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** If-Match / If-None-Match without quotes (the first etag of a list); `*` as is. */
function conditionsOf(request: FastifyRequest): Conditions {
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

function keyValueHeaders(reply: FastifyReply, kv: AzureKeyValue): void {
  void reply.header('etag', `"${kv.etag}"`).header('last-modified', new Date(kv.last_modified).toUTCString());
}

/** The scheme and host the client used, for absolute links (Operation-Location). */
function origin(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? request.host}`;
}

function syncToken(id: string, revision: number): string {
  return `${id}=${revision};sn=${revision}`;
}

/** The revision in a Sync-Token header the SDK echoes back (`id=value[,id=value]`), for this deployment's id. */
function syncTokenRevision(value: string | string[] | undefined, id: string): number | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  if (!text) return undefined;
  for (const token of text.split(',')) {
    const [name, rest] = token.trim().split('=', 2);
    if (name !== id || rest === undefined) continue;
    const revision = Number(rest.split(';')[0]);
    if (Number.isSafeInteger(revision) && revision > 0) return revision;
  }
  return undefined;
}

/**
 * A listing page: body `{items, etag, @nextLink}`, headers ETag and `Link: <…>; rel="next"`. The
 * next link puts `api-version` first and a lowercase `after` next, as the service does (the SDK
 * reads `after` out of it with URLSearchParams). If-None-Match with the page's etag gives 304,
 * which still carries the Link header: the provider's refresh follows it to check later pages.
 */
function sendPage<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
  query: RawQuery,
  page: Page<T>,
  render: (item: T) => unknown,
  mediaType: string,
  select: readonly string[] | undefined,
): FastifyReply {
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

/** Errors as problem+json in the service's shape (type, title, name, detail, status), with Herald's code and request id too. */
function sendError(error: FastifyError | HeraldError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const herald = toHeraldError(error);
  if (herald.status >= 500) request.log.error({ err: error, code: herald.code }, 'request failed');
  else request.log.info({ code: herald.code, detail: herald.message }, 'request refused');
  const { wwwAuthenticate, name, ...extensions } = herald.extensions;
  if (herald.status === 401) {
    const reason = typeof wwwAuthenticate === 'string' ? wwwAuthenticate : 'Invalid access token';
    void reply.header(
      'www-authenticate',
      `HMAC-SHA256 error="invalid_token" error_description="${reason.replace(/["\\]/gu, '')}", Bearer`,
    );
  }
  if (herald.retryAfter !== undefined || herald.status === 503)
    void reply.header('retry-after', String(herald.retryAfter ?? 1));
  const kind = azureErrorTypes[herald.code];
  const locked = herald.code === 'entry_locked';
  const title = locked
    ? `Modifying key '${typeof extensions.key === 'string' ? extensions.key : ''}' is not allowed`
    : kind === 'invalid-argument' && typeof name === 'string'
      ? `Invalid request parameter '${name}'`
      : errorCatalogue[herald.code].title;
  const problem = {
    ...extensions,
    type: kind ? `https://azconfig.io/errors/${kind}` : `urn:herald:error:${herald.code}`,
    title,
    ...(typeof name === 'string' ? { name } : locked ? { name: extensions.key } : {}),
    detail: locked ? 'The key is read-only. To allow modification unlock it first.' : herald.message,
    status: herald.status,
    code: herald.code,
    instance: request.id,
  };
  return reply.code(herald.status).type(mediaTypes.problem).send(JSON.stringify(problem));
}

function toHeraldError(error: FastifyError | HeraldError): HeraldError {
  if (error instanceof HeraldError) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HeraldError('body_too_large', error.message);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HeraldError('invalid_request', error.message);
    default:
      break;
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500)
    return new HeraldError('invalid_request', error.message);
  return new HeraldError('internal', 'internal error; the request id is in the server log', { cause: error });
}
