import { Type } from '@sinclair/typebox';
import { pagingOf, sendPage, type HeraldApp, type RouteContext } from '../http/context.js';
import { Namespace, NamespaceParams, NamespaceSchemaBody, Paging } from '../http/schemas.js';

export function registerNamespaceRoutes(app: HeraldApp, ctx: RouteContext): void {
  app.get(
    '/v1/namespaces',
    {
      schema: {
        tags: ['namespaces'],
        summary: 'List the namespaces the token can see',
        querystring: Type.Object(Paging, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Type.Ref(Namespace)), next: Type.Optional(Type.String()) }) },
      },
    },
    async (request, reply) => {
      const principal = await ctx.principal(request);
      const page = await ctx.services.namespaces.listNamespaces(principal, pagingOf(request.query, 100));
      return sendPage(request, reply, page);
    },
  );

  app.post(
    '/v1/namespaces',
    {
      schema: {
        tags: ['namespaces'],
        summary: 'Create a namespace',
        body: Type.Object(
          {
            name: Type.String(),
            description: Type.Optional(Type.String({ maxLength: 1024 })),
            schema: Type.Optional(NamespaceSchemaBody),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Ref(Namespace) },
      },
    },
    async (request, reply) => {
      const principal = await ctx.principal(request);
      const created = await ctx.services.namespaces.createNamespace(principal, {
        name: request.body.name,
        ...(request.body.description === undefined ? {} : { description: request.body.description }),
        ...(request.body.schema === undefined ? {} : { schema: request.body.schema }),
      });
      return reply
        .code(201)
        .header('location', `/v1/namespaces/${encodeURIComponent(created.name)}`)
        .send(created);
    },
  );

  app.get(
    '/v1/namespaces/:ns',
    {
      schema: {
        tags: ['namespaces'],
        summary: 'Get a namespace',
        params: NamespaceParams,
        response: { 200: Type.Ref(Namespace) },
      },
    },
    async (request) => ctx.services.namespaces.getNamespace(await ctx.principal(request), request.params.ns),
  );

  app.delete(
    '/v1/namespaces/:ns',
    {
      schema: {
        tags: ['namespaces'],
        summary: 'Delete a namespace; one with entries needs force=true, and then loses its entries and history',
        params: NamespaceParams,
        querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await ctx.services.namespaces.deleteNamespace(
        await ctx.principal(request),
        request.params.ns,
        request.query.force ?? false,
      );
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/namespaces/:ns/schema',
    {
      schema: {
        tags: ['namespaces'],
        summary: 'Get the JSON Schema of a namespace (null when none)',
        params: NamespaceParams,
        response: { 200: Type.Object({ schema: Type.Union([NamespaceSchemaBody, Type.Null()]) }) },
      },
    },
    async (request) => ({
      schema: await ctx.services.namespaces.getSchema(await ctx.principal(request), request.params.ns),
    }),
  );

  app.put(
    '/v1/namespaces/:ns/schema',
    {
      schema: {
        tags: ['namespaces'],
        summary:
          'Set or (with null) remove the JSON Schema; refused with the violations when current entries do not satisfy it',
        params: NamespaceParams,
        body: Type.Object({ schema: Type.Union([NamespaceSchemaBody, Type.Null()]) }, { additionalProperties: false }),
        response: { 200: Type.Ref(Namespace) },
      },
    },
    async (request) =>
      ctx.services.namespaces.setSchema(await ctx.principal(request), request.params.ns, request.body.schema),
  );
}
