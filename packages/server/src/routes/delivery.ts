import { Type } from '@sinclair/typebox';
import type { HeraldApp, RouteContext } from '../http/context.js';
import { ChangeRequestOpenedBody, NamespaceParams } from '../http/schemas.js';
import { releaseView } from '../delivery/release-service.js';
import { PublicKey } from './watch.js';

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
  {
    additionalProperties: true,
    description:
      'strategy, waves[].name/percent/bake/match/each (one wave per value of an attribute, in order), gates.minReportRatio/maxRejectRatio/maxUnhealthyRatio/reportDeadline/minInstances, autoRollback',
  },
);

const TraceCounts = Type.Object({
  instances: Type.Integer(),
  applied: Type.Integer(),
  rejected: Type.Integer(),
  superseded: Type.Integer({ description: 'Instances already on a newer release' }),
  notReported: Type.Integer({ description: 'Instances still on an older release, or silent about this one' }),
  firstAppliedMs: Type.Union([Type.Number(), Type.Null()]),
  lastAppliedMs: Type.Union([Type.Number(), Type.Null()]),
});

const ReleaseTraceSchema = Type.Object({
  namespace: Type.String(),
  seq: Type.Integer(),
  releasedAt: Type.String(),
  committedMs: Type.Union([Type.Number(), Type.Null()]),
  fleet: TraceCounts,
  relays: Type.Array(
    Type.Object({
      relay: Type.String(),
      path: Type.Array(Type.String()),
      receivedMs: Type.Number(),
      servedMs: Type.Union([Type.Number(), Type.Null()]),
      instances: TraceCounts,
    }),
  ),
  groups: Type.Array(Type.Object({ via: Type.Array(Type.String()), region: Type.String(), counts: TraceCounts })),
});

export function registerDeliveryRoutes(app: HeraldApp, ctx: RouteContext): void {
  const { delivery, releases } = ctx;

  app.post(
    '/v1/keys/rotate',
    {
      schema: {
        tags: ['delivery'],
        summary: 'Sign with a new key from now on, endorsed by the current one (admin)',
        response: { 200: PublicKey },
      },
    },
    async (request) => delivery.rotateKeys(await ctx.principal(request)),
  );

  app.get(
    '/v1/fleet/:ns',
    {
      schema: {
        tags: ['delivery'],
        summary:
          'Instances that reported a view of the namespace within the TTL (release, status, health), all or a page, with their counts',
        params: NamespaceParams,
        querystring: Type.Object(
          {
            limit: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 10_000, description: 'A page of at most this many instances' }),
            ),
            after: Type.Optional(
              Type.String({ maxLength: 256, description: 'The next page: instances after this id (`next` of a page)' }),
            ),
            instances: Type.Optional(
              Type.Boolean({ description: 'false: only the counts (summary, releases), cheap at any fleet size' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            instances: Type.Array(
              Type.Object({
                instanceId: Type.String(),
                attributes: Type.Record(Type.String(), Type.String()),
                labels: Type.Array(Type.String()),
                seq: Type.Integer(),
                digest: Type.Optional(
                  Type.String({
                    description:
                      'The digest the instance reported; only for tokens that may read the secrets of the namespace',
                  }),
                ),
                status: Type.String(),
                reason: Type.Optional(Type.String()),
                health: Type.String(),
                healthDetail: Type.String(),
                lastSeen: Type.String(),
              }),
            ),
            releases: Type.Array(
              Type.Object({ seq: Type.Integer(), applied: Type.Integer(), rejected: Type.Integer() }),
              { description: 'Views per release and status over the whole fleet, newest release first' },
            ),
            summary: Type.Object({
              instances: Type.Integer(),
              health: Type.Object({ ok: Type.Integer(), degraded: Type.Integer(), failing: Type.Integer() }),
            }),
            next: Type.Optional(Type.String({ description: 'The `after` of the next page' })),
          }),
        },
      },
    },
    async (request) => delivery.fleet(await ctx.principal(request), request.params.ns, request.query),
  );

  app.get(
    '/v1/namespaces/:ns/releases',
    {
      schema: {
        tags: ['delivery'],
        summary: 'Releases of a namespace, newest first',
        params: NamespaceParams,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Release) }) },
      },
    },
    async (request) => ({
      items: await releases.list(await ctx.principal(request), request.params.ns, request.query.limit ?? 50),
    }),
  );

  app.get(
    '/v1/namespaces/:ns/releases/:seq/trace',
    {
      schema: {
        tags: ['delivery'],
        summary:
          'Where a release went: each relay (when it received and served it) and the instances (applied, rejected, not reported) per relay chain and region, in ms after the release',
        params: Type.Object({ ns: Type.String(), seq: Type.Integer({ minimum: 1 }) }),
        response: { 200: ReleaseTraceSchema },
      },
    },
    async (request) => ctx.traces.trace(await ctx.principal(request), request.params.ns, request.params.seq),
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
            supersede: Type.Optional(
              Type.Boolean({ description: 'On a staged namespace: abort the running rollout and start a new one' }),
            ),
            force: Type.Optional(
              Type.Boolean({
                description:
                  'Release even content that a rollout rolled back (refused otherwise: release_rolled_back); needs a reason, audited',
              }),
            ),
            reason: Type.Optional(
              Type.String({ maxLength: 4096, description: 'Why, with force (kept in the audit log)' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Intersect([Release, Type.Object({ rolloutId: Type.Optional(Type.String()) })]),
          202: ChangeRequestOpenedBody,
        },
      },
    },
    async (request, reply) => {
      const principal = await ctx.principal(request);
      const note = request.body.note ?? '';
      if (request.body.rollbackTo !== undefined) {
        return reply
          .code(201)
          .send(await releases.rollback(principal, request.params.ns, request.body.rollbackTo, note));
      }
      // As the namespace's policy says: at once, or as a rollout's candidate (made through `releases` too);
      // change control first: a release request when releases need approval, refused in a change window.
      const started = await ctx.changeRequests.release(
        principal,
        request.params.ns,
        note,
        request.body.supersede ?? false,
        request.body.force ? { reason: request.body.reason ?? note } : undefined,
      );
      return reply
        .code(201)
        .send({ ...releaseView(started.release), ...(started.rolloutId ? { rolloutId: started.rolloutId } : {}) });
    },
  );

  app.get(
    '/v1/namespaces/:ns/policy',
    {
      schema: {
        tags: ['delivery'],
        summary: 'The rollout policy of a namespace',
        params: NamespaceParams,
        response: { 200: Policy },
      },
    },
    async (request) => delivery.getPolicy(await ctx.principal(request), request.params.ns),
  );

  app.put(
    '/v1/namespaces/:ns/policy',
    {
      schema: {
        tags: ['delivery'],
        summary: 'Set the rollout policy',
        params: NamespaceParams,
        body: Policy,
        response: { 200: Policy },
      },
    },
    async (request) => delivery.setPolicy(await ctx.principal(request), request.params.ns, request.body),
  );

  app.get(
    '/v1/namespaces/:ns/rollout',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'The newest rollout of the namespace: state, waves with progress, gates against thresholds, bake left',
        params: NamespaceParams,
        response: {
          200: Type.Object({ rollout: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]) }),
        },
      },
    },
    async (request) => ({
      rollout: ((await ctx.rollouts.status(await ctx.principal(request), request.params.ns)) ?? null) as Record<
        string,
        unknown
      > | null,
    }),
  );

  app.get(
    '/v1/namespaces/:ns/rollouts',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'Rollouts of the namespace, newest first, with their transition history',
        params: NamespaceParams,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
      },
    },
    async (request) => ({
      items: (await ctx.rollouts.history(
        await ctx.principal(request),
        request.params.ns,
        request.query.limit ?? 20,
      )) as unknown as Array<Record<string, unknown>>,
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
          command: Type.Union([
            Type.Literal('pause'),
            Type.Literal('resume'),
            Type.Literal('abort'),
            Type.Literal('rollback'),
          ]),
        }),
        body: Type.Optional(
          Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }),
        ),
        response: {
          200: Type.Object({
            state: Type.String(),
            wave: Type.Integer(),
            reason: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (request) => {
      const state = await ctx.rollouts.command(
        await ctx.principal(request),
        request.params.ns,
        request.params.command,
        request.body?.reason ?? '',
      );
      return { state: state.state, wave: state.wave, reason: state.reason ?? null };
    },
  );

  app.post(
    '/v1/rollouts/:command',
    {
      schema: {
        tags: ['rollouts'],
        summary:
          'freeze: halt every active rollout at once (new ones start frozen); unfreeze: let them go on (admin of *)',
        params: Type.Object({ command: Type.Union([Type.Literal('freeze'), Type.Literal('unfreeze')]) }),
        body: Type.Optional(
          Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }),
        ),
        response: { 200: Type.Object({ frozen: Type.Boolean(), rollouts: Type.Array(Type.String()) }) },
      },
    },
    async (request) =>
      ctx.rollouts.freezeAll(
        await ctx.principal(request),
        request.params.command === 'freeze',
        request.body?.reason ?? '',
      ),
  );
}
