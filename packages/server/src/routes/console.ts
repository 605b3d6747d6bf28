// What the web console needs beyond the plain resources: every namespace with its newest release,
// rollout and fleet share in one answer (the namespaces page polls this, not three requests per
// namespace), and the audited reveal of one secret (the console masks secrets by default).
import { Type, type Static } from '@sinclair/typebox';
import { HeraldError } from '@herald/core';
import { pagingOf, sendPage, type HeraldApp, type RouteContext } from '../http/context.js';
import { Entry, Namespace, NamespaceParams, Paging } from '../http/schemas.js';
import type { Principal } from '../principal.js';

const NamespaceSummary = Type.Object({
  namespace: Type.Ref(Namespace),
  release: Type.Union([
    Type.Object({ seq: Type.Integer(), revision: Type.Integer(), kind: Type.String(), createdAt: Type.String() }),
    Type.Null(),
  ]),
  rollout: Type.Union([
    Type.Object({
      state: Type.String(),
      fromSeq: Type.Integer(),
      toSeq: Type.Integer(),
      waveName: Type.Union([Type.String(), Type.Null()]),
    }),
    Type.Null(),
  ]),
  fleet: Type.Union([
    Type.Object({ total: Type.Integer(), onNewest: Type.Integer(), rejected: Type.Integer() }),
    Type.Null(),
  ]),
  hidden: Type.Array(Type.String(), { description: 'What the token may not see of this namespace, and why' }),
});

/** A part the token may not read is left out with the reason, not a failure of the whole page. */
async function soft<T>(hidden: string[], load: () => Promise<T>): Promise<T | null> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof HeraldError && (error.code === 'forbidden' || error.code.endsWith('_not_found'))) {
      if (error.code === 'forbidden') hidden.push(error.message);
      return null;
    }
    throw error;
  }
}

export function registerConsoleRoutes(app: HeraldApp, ctx: RouteContext): void {
  const summarise = async (principal: Principal, namespace: Static<typeof Namespace>) => {
    const hidden: string[] = [];
    const name = namespace.name;
    const [releases, rollout, fleet] = await Promise.all([
      soft(hidden, () => ctx.releases.list(principal, name, 1)),
      soft(hidden, () => ctx.rollouts.status(principal, name)),
      soft(hidden, () => ctx.delivery.fleet(principal, name)),
    ]);
    const newest = releases?.[0];
    return {
      namespace,
      release: newest
        ? { seq: newest.seq, revision: newest.revision, kind: newest.kind, createdAt: newest.createdAt }
        : null,
      rollout: rollout
        ? { state: rollout.state, fromSeq: rollout.fromSeq, toSeq: rollout.toSeq, waveName: rollout.waveName ?? null }
        : null,
      fleet: fleet
        ? {
            total: fleet.instances.length,
            onNewest: newest ? fleet.instances.filter((i) => i.seq === newest.seq && i.status === 'applied').length : 0,
            rejected: fleet.instances.filter((i) => i.status === 'rejected').length,
          }
        : null,
      hidden,
    };
  };

  app.get(
    '/v1/console/namespaces',
    {
      schema: {
        tags: ['console'],
        summary: 'The namespaces the token can see, each with its newest release, rollout and fleet share',
        querystring: Type.Object(Paging, { additionalProperties: false }),
        response: {
          200: Type.Object({ items: Type.Array(NamespaceSummary), next: Type.Optional(Type.String()) }),
        },
      },
    },
    async (request, reply) => {
      const principal = await ctx.principal(request);
      const page = await ctx.services.namespaces.listNamespaces(principal, pagingOf(request.query, 100));
      const items = [];
      // One namespace at a time: a page of hundreds must not open hundreds of store reads at once.
      for (const namespace of page.items) items.push(await summarise(principal, namespace));
      return sendPage(request, reply, { ...page, items });
    },
  );

  app.post(
    '/v1/namespaces/:ns/secrets/reveal',
    {
      schema: {
        tags: ['entries'],
        summary: 'Read one entry on purpose, secret value included, for tokens that may read secrets (audited)',
        params: NamespaceParams,
        body: Type.Object(
          { key: Type.String({ minLength: 1 }), label: Type.Optional(Type.String()) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref(Entry) },
      },
    },
    async (request) =>
      ctx.services.entries.revealEntry(
        await ctx.principal(request),
        request.params.ns,
        request.body.key,
        request.body.label ?? '',
      ),
  );
}
