import { Type } from '@sinclair/typebox';
import type { HeraldApp, RouteContext } from '../http/context.js';

/** Unauthenticated operational endpoints: probes, metrics and the API description. */
export function registerSystemRoutes(app: HeraldApp, ctx: RouteContext): void {
  const probe = {
    schema: {
      tags: ['system'],
      security: [],
      response: { 200: Type.Object({ status: Type.String() }), 503: Type.Object({ status: Type.String() }) },
    },
  };

  // Liveness only: a database outage must not make an orchestrator restart healthy nodes (/readyz says that).
  app.get(
    '/healthz',
    {
      ...probe,
      schema: { ...probe.schema, summary: 'Liveness: 200 once the server has started, whatever the store is doing' },
    },
    async () => ({
      status: 'ok',
    }),
  );

  app.get(
    '/readyz',
    { ...probe, schema: { ...probe.schema, summary: 'Readiness: 200 while the store answers, 503 otherwise' } },
    async (_request, reply) => {
      if (!(await ctx.ready())) return reply.code(503).header('retry-after', '1').send({ status: 'unavailable' });
      return { status: 'ready' };
    },
  );

  // The 200 responses are documented so that the OpenAPI document covers every answer these routes give.
  const metricsResponse = {
    description: 'Prometheus text exposition format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  };
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics (text format)',
        security: [],
        response: { 200: metricsResponse },
      },
    },
    async (_request, reply) => {
      const body = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(body);
    },
  );

  const openapiResponse = { description: 'OpenAPI 3.1 document', type: 'object', additionalProperties: true };
  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['system'],
        summary: 'This API as an OpenAPI 3.1 document',
        security: [],
        response: { 200: openapiResponse },
      },
    },
    async () => app.swagger(),
  );

  app.get(
    '/v1/cluster',
    {
      schema: {
        tags: ['system'],
        summary: 'This node: its id, store, and whether it leads the singleton jobs (any valid token)',
        response: {
          200: Type.Object({
            node: Type.Object({
              id: Type.String(),
              store: Type.String(),
              leader: Type.Boolean(),
              fence: Type.Integer(),
            }),
            revision: Type.Integer(),
          }),
        },
      },
    },
    async (request) => {
      await ctx.principal(request);
      return {
        node: {
          id: ctx.node.id,
          store: ctx.node.store,
          leader: ctx.node.leadership.isLeader(),
          fence: ctx.node.leadership.fence,
        },
        revision: await ctx.currentRevision(),
      };
    },
  );
}
