import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { checkLabels, HeraldError, type Limits, type ViewValues } from '@herald/core';
import { evaluateAll, evaluateOne, type OfrepAnswer } from '@herald/flags';
import type { HeraldApp } from '../http/context.js';
import { FlagSets, noFlags } from '../flags/flag-sets.js';
import type { Principal } from '../principal.js';
import type { InstanceIdentity } from '../delivery/routing.js';
import { instanceOfContext } from '../flags/ofrep-views.js';
import { registerCors } from '../http/cors.js';

/**
 * OFREP, the OpenFeature Remote Evaluation Protocol, under each namespace: `{server}/v1/namespaces/{ns}`
 * is the base URL an OFREP provider is given. Flags are evaluated from the namespace's released
 * view for the caller (a `client` token may, as it may fetch the view; secret entries are in it
 * only for tokens that may read secrets), with the label stack from `?label=` (repeatable) or the
 * `Herald-Labels` header (comma-separated, each label percent-encoded). Browsers on the origins
 * configured (`corsOrigins`) may call these routes across origins; nothing else gets CORS.
 */

/** Where OFREP gets its views: the control plane (store) or a relay (its verified cache); see ofrepViews. */
export interface OfrepBackend {
  limits: Pick<Limits, 'maxLabels' | 'maxLabelLength'>;
  authenticate(request: FastifyRequest): Promise<Principal>;
  /**
   * The view this principal's clients get now (for `instance`, the release its rollout wave gives
   * it); undefined when the namespace has no release yet. Throws `forbidden` / `namespace_not_found`.
   */
  view(
    principal: Principal,
    namespace: string,
    labels: string[],
    instance: InstanceIdentity | undefined,
  ): Promise<{ digest: string; values: Readonly<ViewValues> } | undefined>;
  /** Told the variants each answer served, for the usage counts. */
  evaluated?(namespace: string, served: ReadonlyArray<{ key: string; variant: string }>): void;
}

const OfrepParams = Type.Object({ ns: Type.String() });
const OfrepKeyParams = Type.Object({
  ns: Type.String(),
  '*': Type.String({ description: 'The flag key (the entry key), URL-encoded; "/" may stay unencoded' }),
});
const LabelQuery = Type.Object(
  {
    label: Type.Optional(
      Type.Array(Type.String(), { maxItems: 64, description: 'The label stack; repeat for several' }),
    ),
  },
  { additionalProperties: false },
);
// OFREP answers its own shapes (open-feature/protocol service/openapi.yaml), not problem+json, for evaluation errors.
const Metadata = Type.Record(Type.String(), Type.Union([Type.Boolean(), Type.String(), Type.Number()]));
const EvaluationSuccess = Type.Object({
  key: Type.String(),
  value: Type.Unknown(),
  reason: Type.String(),
  variant: Type.String(),
  metadata: Metadata,
});
const EvaluationFailure = Type.Object({
  key: Type.String(),
  errorCode: Type.String({
    description: 'FLAG_NOT_FOUND, PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT or GENERAL',
  }),
  errorDetails: Type.String(),
});
const BulkFailure = Type.Object({ errorCode: Type.String(), errorDetails: Type.String() });
const EvaluationBody = Type.Unknown({ description: '{ context?: { targetingKey?: string, …attributes } }' });

/** The label stack asked for: the query wins over the header. */
function labelsOf(request: FastifyRequest, query: string[] | undefined, limits: OfrepBackend['limits']): string[] {
  let labels = query;
  if (labels === undefined) {
    const header = request.headers['herald-labels'];
    const text = Array.isArray(header) ? header.join(',') : header;
    if (text !== undefined && text.trim() !== '') {
      try {
        labels = text.split(',').map((part) => decodeURIComponent(part.trim()));
      } catch {
        throw new HeraldError(
          'invalid_label',
          'Herald-Labels must be a comma-separated list of percent-encoded labels',
        );
      }
    }
  }
  checkLabels(labels ?? [], limits);
  return labels ?? [];
}

/** The variants an answer served: one flag's, or each of a bulk answer's. */
function served(answer: OfrepAnswer): Array<{ key: string; variant: string }> {
  if (answer.status !== 200 || !answer.body) return [];
  const items = Array.isArray(answer.body.flags) ? (answer.body.flags as unknown[]) : [answer.body];
  const out: Array<{ key: string; variant: string }> = [];
  for (const item of items) {
    const { key, variant } = item as { key?: unknown; variant?: unknown };
    if (typeof key === 'string' && typeof variant === 'string') out.push({ key, variant });
  }
  return out;
}

function send(reply: FastifyReply, answer: OfrepAnswer): FastifyReply {
  if (answer.etag) void reply.header('etag', answer.etag);
  if (answer.status === 304) return reply.code(304).send(null);
  return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
}

/** OFREP's paths under any namespace: the ones CORS applies to. */
const ofrepPath = /^\/v1\/namespaces\/[^/]+\/ofrep\/v1\/evaluate\/flags(\/.*)?$/u;

export interface OfrepRouteOptions {
  /** Browser origins allowed to evaluate across origins (exact, or `*`); empty: none. */
  corsOrigins: readonly string[];
  flagSets?: FlagSets;
}

/** Registers the OFREP routes in a scope of their own, so that CORS (when configured) covers them only. */
export function registerOfrepRoutes(app: HeraldApp, backend: OfrepBackend, options: OfrepRouteOptions): void {
  void app.register(async (scope) => {
    await registerCors(scope, {
      origins: options.corsOrigins,
      applies: (path) => ofrepPath.test(path),
      methods: ['POST'],
      allowedHeaders: ['authorization', 'content-type', 'if-none-match', 'herald-labels'],
      exposedHeaders: ['etag'],
      maxAgeSeconds: 600,
    });
    ofrepRoutes(scope, backend, options.flagSets ?? new FlagSets());
  });
}

function ofrepRoutes(app: HeraldApp, backend: OfrepBackend, flagSets: FlagSets): void {
  const flagsFor = async (request: FastifyRequest, namespace: string, query: string[] | undefined) => {
    const principal = await backend.authenticate(request);
    const labels = labelsOf(request, query, backend.limits);
    const view = await backend.view(principal, namespace, labels, instanceOfContext(request.body));
    return view ? flagSets.of(view) : noFlags();
  };
  const counted = (namespace: string, answer: OfrepAnswer): OfrepAnswer => {
    const variants = served(answer);
    if (variants.length > 0) backend.evaluated?.(namespace, variants);
    return answer;
  };

  app.post(
    '/v1/namespaces/:ns/ofrep/v1/evaluate/flags/*',
    {
      schema: {
        tags: ['flags'],
        summary: 'OFREP: evaluate one flag of the released view (label stack: ?label= or the Herald-Labels header)',
        params: OfrepKeyParams,
        querystring: LabelQuery,
        body: EvaluationBody,
        response: { 200: EvaluationSuccess, 400: EvaluationFailure, 404: EvaluationFailure },
      },
    },
    async (request, reply) =>
      send(
        reply,
        counted(
          request.params.ns,
          evaluateOne(
            await flagsFor(request, request.params.ns, request.query.label),
            request.params['*'],
            request.body,
          ),
        ),
      ),
  );

  app.post(
    '/v1/namespaces/:ns/ofrep/v1/evaluate/flags',
    {
      schema: {
        tags: ['flags'],
        summary: 'OFREP: evaluate every enabled flag of the released view (ETag; If-None-Match gives 304)',
        params: OfrepParams,
        querystring: LabelQuery,
        body: EvaluationBody,
        response: {
          200: Type.Object({ flags: Type.Array(Type.Union([EvaluationSuccess, EvaluationFailure])) }),
          304: Type.Null(),
          400: BulkFailure,
        },
      },
    },
    async (request, reply) => {
      const header = request.headers['if-none-match'];
      const ifNoneMatch = Array.isArray(header) ? header.join(',') : header;
      const flags = await flagsFor(request, request.params.ns, request.query.label);
      return send(reply, counted(request.params.ns, evaluateAll(flags, request.body, ifNoneMatch)));
    },
  );
}
