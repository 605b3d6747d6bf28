import { Type } from '@sinclair/typebox';
import type { HeraldApp, RouteContext } from '../http/context.js';
import { NamespaceParams } from '../http/schemas.js';
import type { FlagSummaryService } from '../services/flag-summary-service.js';

/** `?staleDays=` bounds: a flag is stale when not evaluated for this many days. */
export const defaultStaleDays = 7;
export const maxStaleDays = 365;

const Variants = Type.Record(Type.String(), Type.Unknown());
const Counts = Type.Record(Type.String(), Type.Integer({ minimum: 0 }));
const FlagState = Type.Union([Type.Literal('ENABLED'), Type.Literal('DISABLED')]);
export const FlagSummaryItemSchema = Type.Object({
  key: Type.String(),
  kind: Type.Union([Type.Literal('flagd'), Type.Literal('azure')]),
  state: FlagState,
  variants: Variants,
  defaultVariant: Type.Union([Type.String(), Type.Null()], {
    description: 'null only for an Azure flag without variants',
  }),
  hasTargeting: Type.Boolean(),
  revision: Type.Integer(),
  rollout: Type.Union([
    Type.Null(),
    Type.Object({
      seq: Type.Integer({ description: 'The candidate release' }),
      state: Type.String({ description: 'in-progress, paused or frozen' }),
      wave: Type.String({ description: 'The name of the current wave' }),
      stable: Type.Union([
        Type.Null(),
        Type.Object({ state: FlagState, defaultVariant: Type.Union([Type.String(), Type.Null()]) }),
      ]),
    }),
  ]),
  evaluations: Type.Object({ hour: Counts, day: Counts }),
  lastEvaluatedAt: Type.Union([Type.String(), Type.Null()]),
  stale: Type.Boolean(),
});

export function registerFlagRoutes(app: HeraldApp, ctx: RouteContext, summaries: FlagSummaryService): void {
  app.get(
    '/v1/namespaces/:ns/flags',
    {
      schema: {
        tags: ['flags'],
        summary:
          "The namespace's flags at one label: state, variants, rollout position, evaluations in the last hour and day, stale",
        params: NamespaceParams,
        querystring: Type.Object(
          {
            label: Type.Optional(Type.String({ description: 'The label; the empty label when absent' })),
            staleDays: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: maxStaleDays,
                default: defaultStaleDays,
                description: 'A flag not evaluated for this many days is stale',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            namespace: Type.String(),
            label: Type.Union([Type.String(), Type.Null()]),
            flags: Type.Array(FlagSummaryItemSchema),
            staleAfterDays: Type.Integer(),
          }),
        },
      },
    },
    async (request) =>
      summaries.summary(
        await ctx.principal(request),
        request.params.ns,
        request.query.label,
        request.query.staleDays ?? defaultStaleDays,
      ),
  );
}
