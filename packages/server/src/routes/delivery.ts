import { Type } from '@sinclair/typebox';
import { HeraldError } from '@herald/core';
import type { HeraldApp, RouteContext } from '../http/context.js';
import { NamespaceParams } from '../http/schemas.js';
import { releaseView } from '../delivery/delivery-service.js';
import { EventStream, encodeEvent } from '../delivery/sse.js';

const Labels = Type.Array(Type.String(), { maxItems: 64 });
const SignedView = Type.Object({
  manifest: Type.Object({
    namespace: Type.String(),
    labels: Type.Array(Type.String()),
    secrets: Type.Boolean(),
    seq: Type.Integer(),
    revision: Type.Integer(),
    digest: Type.String(),
    issuedAt: Type.Integer(),
    keyId: Type.String(),
  }),
  signature: Type.String(),
  values: Type.Record(Type.String(), Type.Unknown()),
});
const PublicKey = Type.Object({
  keyId: Type.String(),
  publicKey: Type.String(),
  createdAt: Type.Integer(),
  endorsedBy: Type.Optional(Type.Object({ keyId: Type.String(), signature: Type.String() })),
});
const Release = Type.Object({
  namespace: Type.String(),
  seq: Type.Integer(),
  revision: Type.Integer(),
  kind: Type.String(),
  author: Type.String(),
  note: Type.String(),
  createdAt: Type.String(),
});
// Validated by parsePolicy, which names every problem with its path (invalid_policy).
const Policy = Type.Object(
  { strategy: Type.Union([Type.Literal('immediate'), Type.Literal('manual'), Type.Literal('staged')]) },
  { additionalProperties: true, description: 'strategy, waves[].name/percent/bake/match, gates.minReportRatio/maxRejectRatio/maxUnhealthyRatio/reportDeadline/minInstances, autoRollback' },
);
const maxWatchViews = 64;
const maxLongPollSeconds = 60;

export function registerDeliveryRoutes(app: HeraldApp, ctx: RouteContext): void {
  const { delivery, hub } = ctx;

  app.get(
    '/v1/keys',
    { schema: { tags: ['delivery'], summary: 'The public keys that sign manifests, each endorsed by the one before', security: [], response: { 200: Type.Object({ keys: Type.Array(PublicKey) }) } } },
    async () => ({ keys: delivery.publicKeys() }),
  );

  app.post(
    '/v1/keys/rotate',
    { schema: { tags: ['delivery'], summary: 'Sign with a new key from now on, endorsed by the current one (admin)', response: { 200: PublicKey } } },
    async (request) => delivery.rotateKeys(await ctx.principal(request)),
  );

  app.post(
    '/v1/watch',
    {
      schema: {
        tags: ['delivery'],
        summary: 'The watch stream (Server-Sent Events): snapshots, deltas and heartbeats for the views named; see docs/protocol.md',
        body: Type.Object(
          {
            instanceId: Type.Optional(Type.String({ maxLength: 256 })),
            attributes: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 64 })),
            views: Type.Array(
              Type.Object(
                {
                  namespace: Type.String(),
                  labels: Type.Optional(Labels),
                  seq: Type.Optional(Type.Integer({ minimum: 1 })),
                  digest: Type.Optional(Type.String({ maxLength: 128 })),
                },
                { additionalProperties: false },
              ),
              { minItems: 1, maxItems: maxWatchViews },
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.String({ description: 'text/event-stream' }) },
      },
    },
    async (request, reply) => {
      const principal = await ctx.principal(request);
      const views = await delivery.resolveViews(principal, request.body.views);
      if (hub.streamCount >= ctx.config.maxWatchStreams) {
        throw new HeraldError('unavailable', `this node serves ${hub.streamCount} watch streams, its limit; retry, perhaps elsewhere`, {
          retryAfter: ctx.config.retryAfterSeconds,
        });
      }
      reply.hijack();
      const stream = new EventStream(request.raw.socket, ctx.config.maxStreamBufferBytes);
      ctx.metrics.watchStreams.inc();
      stream.onClose(() => ctx.metrics.watchStreams.dec());
      try {
        stream.write(encodeEvent('hello', { revision: await ctx.currentRevision(), heartbeatMs: ctx.config.heartbeatMs, keys: delivery.publicKeys() }));
        const instance = { instanceId: request.body.instanceId ?? `anonymous-${request.id}`, attributes: request.body.attributes ?? {} };
        await hub.attach(stream, instance, views);
      } catch (error) {
        // The response has started: the only way left to say "failed" is to cut the stream; the client retries.
        request.log.error({ err: error }, 'watch stream failed');
        stream.destroy();
      }
    },
  );

  app.get(
    '/v1/views/:ns',
    {
      schema: {
        tags: ['delivery'],
        summary: 'One view, signed (ETag = digest; If-None-Match → 304; wait=N long-polls up to N seconds)',
        params: NamespaceParams,
        querystring: Type.Object(
          { label: Type.Optional(Labels), wait: Type.Optional(Type.Integer({ minimum: 0, maximum: maxLongPollSeconds })) },
          { additionalProperties: false },
        ),
        response: { 200: SignedView, 304: Type.Null() },
      },
    },
    async (request, reply) => {
      const principal = await ctx.principal(request);
      const labels = request.query.label ?? [];
      const header = request.headers['if-none-match'];
      const held = typeof header === 'string' ? header.replace(/^W\//u, '').replace(/^"(.*)"$/u, '$1') : undefined;
      const deadline = Date.now() + (request.query.wait ?? 0) * 1000;
      for (;;) {
        const view = await delivery.currentView(principal, request.params.ns, labels);
        if (!view) throw new HeraldError('revision_not_found', `namespace "${request.params.ns}" has no release yet`);
        void reply.header('etag', `"${view.digest}"`);
        if (held !== view.digest) return { manifest: view.signed.manifest, signature: view.signed.signature, values: view.values };
        const remaining = deadline - Date.now();
        if (remaining <= 0) return reply.code(304).send(null);
        await hub.nextRelease(request.params.ns, view.release.seq, remaining);
      }
    },
  );

  app.post(
    '/v1/reports',
    {
      schema: {
        tags: ['delivery'],
        summary: 'What an instance applied or rejected, and its health; written in batches',
        body: Type.Object(
          {
            instanceId: Type.String({ minLength: 1, maxLength: 256 }),
            attributes: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 256 }), { maxProperties: 64 })),
            views: Type.Optional(
              Type.Array(
                Type.Object(
                  {
                    namespace: Type.String(),
                    labels: Type.Optional(Labels),
                    seq: Type.Integer({ minimum: 0 }),
                    digest: Type.String({ maxLength: 128 }),
                    status: Type.Union([Type.Literal('applied'), Type.Literal('rejected')]),
                    reason: Type.Optional(Type.String({ maxLength: 1000 })),
                  },
                  { additionalProperties: false },
                ),
                { maxItems: maxWatchViews },
              ),
            ),
            health: Type.Optional(
              Type.Object(
                {
                  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('failing')]),
                  detail: Type.Optional(Type.String({ maxLength: 1000 })),
                },
                { additionalProperties: false },
              ),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 202: Type.Object({ accepted: Type.Boolean() }) },
      },
    },
    async (request, reply) => {
      delivery.report(await ctx.principal(request), request.body);
      return reply.code(202).send({ accepted: true });
    },
  );

  app.get(
    '/v1/fleet/:ns',
    {
      schema: {
        tags: ['delivery'],
        summary: 'Instances that reported a view of the namespace within the TTL: release, status, health',
        params: NamespaceParams,
        response: {
          200: Type.Object({
            instances: Type.Array(
              Type.Object({
                instanceId: Type.String(),
                attributes: Type.Record(Type.String(), Type.String()),
                labels: Type.Array(Type.String()),
                seq: Type.Integer(),
                digest: Type.String(),
                status: Type.String(),
                reason: Type.Optional(Type.String()),
                health: Type.String(),
                healthDetail: Type.String(),
                lastSeen: Type.String(),
              }),
            ),
            releases: Type.Array(Type.Object({ seq: Type.Integer(), applied: Type.Integer(), rejected: Type.Integer() })),
          }),
        },
      },
    },
    async (request) => delivery.fleet(await ctx.principal(request), request.params.ns),
  );

  app.get(
    '/v1/namespaces/:ns/releases',
    {
      schema: {
        tags: ['delivery'],
        summary: 'Releases of a namespace, newest first',
        params: NamespaceParams,
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Release) }) },
      },
    },
    async (request) => ({ items: await delivery.listReleases(await ctx.principal(request), request.params.ns, request.query.limit ?? 50) }),
  );

  app.post(
    '/v1/namespaces/:ns/releases',
    {
      schema: {
        tags: ['delivery'],
        summary: 'Release the namespace as it is now, or (rollbackTo) a new release with the content of an older one',
        params: NamespaceParams,
        body: Type.Object(
          {
            note: Type.Optional(Type.String({ maxLength: 4096 })),
            rollbackTo: Type.Optional(Type.Integer({ minimum: 1 })),
            supersede: Type.Optional(Type.Boolean({ description: 'On a staged namespace: abort the running rollout and start a new one' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Intersect([Release, Type.Object({ rolloutId: Type.Optional(Type.String()) })]) },
      },
    },
    async (request, reply) => {
      const principal = await ctx.principal(request);
      const note = request.body.note ?? '';
      if (request.body.rollbackTo !== undefined) {
        return reply.code(201).send(await delivery.rollback(principal, request.params.ns, request.body.rollbackTo, note));
      }
      const started = await ctx.rollouts.startRelease(principal, request.params.ns, note, request.body.supersede ?? false);
      return reply.code(201).send({ ...releaseView(started.release), ...(started.rolloutId ? { rolloutId: started.rolloutId } : {}) });
    },
  );

  app.get(
    '/v1/namespaces/:ns/policy',
    { schema: { tags: ['delivery'], summary: 'The rollout policy of a namespace', params: NamespaceParams, response: { 200: Policy } } },
    async (request) => delivery.getPolicy(await ctx.principal(request), request.params.ns),
  );

  app.put(
    '/v1/namespaces/:ns/policy',
    { schema: { tags: ['delivery'], summary: 'Set the rollout policy', params: NamespaceParams, body: Policy, response: { 200: Policy } } },
    async (request) => delivery.setPolicy(await ctx.principal(request), request.params.ns, request.body),
  );

  app.get(
    '/v1/namespaces/:ns/rollout',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'The newest rollout of the namespace: state, waves with progress, gates against thresholds, bake left',
        params: NamespaceParams,
        response: { 200: Type.Object({ rollout: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]) }) },
      },
    },
    async (request) => ({ rollout: ((await ctx.rollouts.status(await ctx.principal(request), request.params.ns)) ?? null) as Record<string, unknown> | null }),
  );

  app.get(
    '/v1/namespaces/:ns/rollouts',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'Rollouts of the namespace, newest first, with their transition history',
        params: NamespaceParams,
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
      },
    },
    async (request) => ({
      items: (await ctx.rollouts.history(await ctx.principal(request), request.params.ns, request.query.limit ?? 20)) as unknown as Array<Record<string, unknown>>,
    }),
  );

  app.post(
    '/v1/namespaces/:ns/rollout/:command',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'pause, resume, abort (back to stable) or rollback the running rollout; audited with who and why',
        params: Type.Object({
          ns: Type.String(),
          command: Type.Union([Type.Literal('pause'), Type.Literal('resume'), Type.Literal('abort'), Type.Literal('rollback')]),
        }),
        body: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false })),
        response: { 200: Type.Object({ state: Type.String(), wave: Type.Integer(), reason: Type.Union([Type.String(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const state = await ctx.rollouts.command(await ctx.principal(request), request.params.ns, request.params.command, request.body?.reason ?? '');
      return { state: state.state, wave: state.wave, reason: state.reason ?? null };
    },
  );

  app.post(
    '/v1/rollouts/:command',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'freeze: halt every active rollout at once (new ones start frozen); unfreeze: let them go on (admin of *)',
        params: Type.Object({ command: Type.Union([Type.Literal('freeze'), Type.Literal('unfreeze')]) }),
        body: Type.Optional(Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false })),
        response: { 200: Type.Object({ frozen: Type.Boolean(), rollouts: Type.Array(Type.String()) }) },
      },
    },
    async (request) =>
      ctx.rollouts.freezeAll(await ctx.principal(request), request.params.command === 'freeze', request.body?.reason ?? ''),
  );
}
