import { Type } from '@sinclair/typebox';
import { pagingOf, sendPage, type HeraldApp, type RouteContext } from '../http/context.js';
import { AuditRecord, Paging, Scope, TokenInfo } from '../http/schemas.js';

export function registerAdminRoutes(app: HeraldApp, ctx: RouteContext): void {
  app.post(
    '/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create a token; the token itself is in this response only',
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ maxLength: 200 })),
            scopes: Type.Array(Scope, { minItems: 1, maxItems: 100 }),
            // Bounded (100 years), or the expiry time overflows what the store can hold and the request fails with a 500.
            expiresInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 * 365 * 24 * 3600 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), info: TokenInfo }) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await ctx.services.tokens.createToken(await ctx.principal(request), request.body)),
  );

  app.get(
    '/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'List tokens (never their secrets)',
        response: { 200: Type.Object({ items: Type.Array(TokenInfo) }) },
      },
    },
    async (request) => ({ items: await ctx.services.tokens.listTokens(await ctx.principal(request)) }),
  );

  app.delete(
    '/v1/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token',
        params: Type.Object({ id: Type.String() }),
        response: { 200: TokenInfo },
      },
    },
    async (request) => ctx.services.tokens.revokeToken(await ctx.principal(request), request.params.id),
  );

  app.post(
    '/v1/tokens/:id/rotate',
    {
      schema: {
        tags: ['tokens'],
        summary:
          'Rotate a token: a successor with the same name and scopes; the old token stays valid for overlapSeconds (default 1 day)',
        params: Type.Object({ id: Type.String() }),
        body: Type.Object(
          { overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600 })) },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), info: TokenInfo, previous: TokenInfo }) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await ctx.services.tokens.rotateToken(
            await ctx.principal(request),
            request.params.id,
            request.body.overlapSeconds,
          ),
        ),
  );

  app.get(
    '/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary:
          'The audit log, oldest first (order=newest for newest first), filtered by actor, action, namespace and time',
        querystring: Type.Object(
          {
            ...Paging,
            order: Type.Optional(Type.Union([Type.Literal('oldest'), Type.Literal('newest')])),
            actor: Type.Optional(Type.String({ maxLength: 500 })),
            action: Type.Optional(
              Type.String({ maxLength: 200, description: 'an action, or its family: rollout matches rollout.start' }),
            ),
            namespace: Type.Optional(Type.String({ maxLength: 500 })),
            since: Type.Optional(Type.String({ format: 'date-time', description: 'records at or after this time' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AuditRecord), next: Type.Optional(Type.String()) }) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await ctx.services.audit.listAudit(await ctx.principal(request), {
        ...pagingOf(q, 100),
        ...(q.order === undefined ? {} : { order: q.order }),
        ...(q.actor === undefined ? {} : { actor: q.actor }),
        ...(q.action === undefined ? {} : { action: q.action }),
        ...(q.namespace === undefined ? {} : { namespace: q.namespace }),
        ...(q.since === undefined ? {} : { since: Date.parse(q.since) }),
      });
      return sendPage(request, reply, page);
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary: 'Check the whole hash chain of the audit log',
        response: {
          200: Type.Object({
            ok: Type.Boolean(),
            count: Type.Integer(),
            head: Type.String(),
            firstBad: Type.Optional(Type.Object({ seq: Type.Integer(), reason: Type.String() })),
          }),
        },
      },
    },
    async (request) => ctx.services.audit.verifyAudit(await ctx.principal(request)),
  );

  app.post(
    '/v1/compact',
    {
      schema: {
        tags: ['history'],
        summary:
          'Drop history older than a revision (audited); as-of reads before it then fail with revision_compacted',
        body: Type.Object({ revision: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ revision: Type.Integer(), removedVersions: Type.Integer() }) },
      },
    },
    async (request) => ctx.services.history.compact(await ctx.principal(request), request.body.revision),
  );
}
