import { Type } from '@sinclair/typebox';
import type { FastifyError } from 'fastify';
import type { Clock, SecretCipher } from '@herald/core';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';
import type { HeraldApp, RouteContext } from '../http/context.js';
import { Scope, TokenInfo } from '../http/schemas.js';
import { RevisionGate } from '../revision-gate.js';
import { tokenView } from '../services/token-service.js';
import { AccessKeys } from './access-keys.js';
import { EntrySource } from './entry-source.js';
import { parseHmacAuthorization, verifyHmacRequest } from './hmac.js';
import { registerKeyValueRoutes } from './key-value-routes.js';
import { KeyValueReads } from './key-value-reads.js';
import { KeyValueWrites } from './key-value-writes.js';
import { sendAzureError } from './problem.js';
import { Callers, rawBody } from './replies.js';
import { registerSnapshotRoutes } from './snapshot-routes.js';
import { Snapshots } from './snapshots.js';
import { syncToken, syncTokenId, syncTokenRevision } from './sync-token.js';

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
  codec: EntryCodec;
}

export function registerAzureRoutes(app: HeraldApp, deps: AzureRouteDeps): void {
  const { context: ctx, store, clock, codec } = deps;
  const { limits } = ctx.config;
  const keys = new AccessKeys({ store, cipher: deps.cipher, clock, cacheMs: ctx.config.tokenCacheMs });
  const source = new EntrySource({ store, limits });
  const snapshots = new Snapshots({ store, source, clock, limits });
  const reads = new KeyValueReads({ store, source, snapshots, clock, limits, codec });
  const writes = new KeyValueWrites({ entries: ctx.services.entries, store, source, limits, codec });
  const syncId = syncTokenId(deps.cipher.fingerprint());

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
      return reply.code(201).send({ id: created.id, secret: created.secret, info: tokenView(created.token) });
    },
  );

  void app.register(async (scope) => {
    const gate = new RevisionGate(store, ctx.config.minRevisionWaitMs);
    scope.addHook('onClose', async () => gate.close());
    const callers = new Callers();

    // Bodies are kept as bytes: the signature covers their hash, and the SDKs send several content types.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.setErrorHandler((error: FastifyError, request, reply) => sendAzureError(error, request, reply));

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

    registerKeyValueRoutes(scope, { reads, writes, callers, limits, syncId });
    registerSnapshotRoutes(scope, { snapshots, callers, limits });
  });
}
