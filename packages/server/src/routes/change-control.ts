import { Type } from '@sinclair/typebox';
import type { HeraldApp, RouteContext } from '../http/context.js';
import { ChangeRequest, NamespaceParams } from '../http/schemas.js';
import { everyNamespace } from '../change-control/change-control-settings.js';

const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
const Reason = Type.String({ maxLength: 1000 });
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }));
const At = Type.String({ maxLength: 100, description: 'ISO 8601 with an offset, e.g. 2026-12-03T09:00:00Z' });

const ApprovalRule = Type.Object(
  {
    required: Type.Integer({ minimum: 0, maximum: 10, description: '0 turns approval off' }),
    approvers: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
        minItems: 1,
        maxItems: 100,
        description: 'Token names or ids that may approve; any token with the right to make the change when absent',
      }),
    ),
    releases: Type.Optional(Type.Boolean({ description: 'Releases need approval too (release requests)' })),
  },
  { additionalProperties: false },
);
const Approval = Type.Object({ approval: Type.Union([ApprovalRule, Type.Null()]) });

// Checked by parseWindows in the core, which names every problem with its path.
const Window = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 100 })),
    weekly: Type.Optional(
      Type.Object(
        {
          from: Type.String({ maxLength: 40, description: 'e.g. "Fri 16:00"' }),
          to: Type.String({ maxLength: 40, description: 'e.g. "Mon 08:00"' }),
          timeZone: Type.String({ maxLength: 100, description: 'IANA time zone, e.g. Europe/Berlin' }),
        },
        { additionalProperties: false },
      ),
    ),
    from: Type.Optional(Type.String({ maxLength: 100 })),
    to: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
const Windows = Type.Object({ windows: Type.Array(Window, { maxItems: 50 }) }, { additionalProperties: false });
const WindowsAnswer = Type.Object({
  windows: Type.Array(Window),
  blocked: Type.Optional(
    Type.Object({ window: Type.String(), scope: Type.String(), until: Type.String(), describe: Type.String() }),
  ),
});

const Schedule = Type.Object({
  id: Type.String(),
  namespace: Type.String(),
  action: Type.Union([Type.Literal('release'), Type.Literal('apply')]),
  state: Type.String(),
  at: Type.String(),
  by: Type.String(),
  note: Type.String(),
  changeRequestId: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
  outcome: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

/** Change control: change requests, approval rules, change windows and schedules. */
export function registerChangeControlRoutes(app: HeraldApp, ctx: RouteContext): void {
  const { changeRequests, changeSettings, schedules } = ctx;

  app.get(
    '/v1/change-requests',
    {
      schema: {
        tags: ['change control'],
        summary: 'Change requests the token may read, newest first',
        querystring: Type.Object(
          {
            namespace: Type.Optional(Type.String()),
            state: Type.Optional(
              Type.Union([
                Type.Literal('open'),
                Type.Literal('applied'),
                Type.Literal('rejected'),
                Type.Literal('stale'),
              ]),
            ),
            limit: Limit,
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Type.Ref(ChangeRequest)) }) },
      },
    },
    async (request) => ({
      items: await changeRequests.list(await ctx.principal(request), {
        ...(request.query.namespace === undefined ? {} : { namespace: request.query.namespace }),
        ...(request.query.state === undefined ? {} : { state: request.query.state }),
        limit: request.query.limit ?? 100,
      }),
    }),
  );

  app.get(
    '/v1/change-requests/:id',
    {
      schema: {
        tags: ['change control'],
        summary: 'One change request, with its diff against the revision it was made against',
        params: IdParams,
        response: { 200: Type.Ref(ChangeRequest) },
      },
    },
    async (request) => changeRequests.show(await ctx.principal(request), request.params.id),
  );

  app.post(
    '/v1/change-requests/:id/approve',
    {
      schema: {
        tags: ['change control'],
        summary:
          'Approve (not the author); the last approval needed applies it as one commit over its base revision, or schedules that (applyAt)',
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            { comment: Type.Optional(Type.String({ maxLength: 4096 })), applyAt: Type.Optional(At) },
            { additionalProperties: false },
          ),
        ),
        response: {
          200: Type.Object({ changeRequest: Type.Ref(ChangeRequest), schedule: Type.Optional(Schedule) }),
        },
      },
    },
    async (request) => {
      const principal = await ctx.principal(request);
      const body = request.body ?? {};
      if (body.applyAt !== undefined)
        return schedules.approveAt(principal, request.params.id, body.applyAt, body.comment ?? '');
      return { changeRequest: await changeRequests.approve(principal, request.params.id, body.comment ?? '') };
    },
  );

  app.post(
    '/v1/change-requests/:id/reject',
    {
      schema: {
        tags: ['change control'],
        summary: 'Reject a change request (its author may withdraw it)',
        params: IdParams,
        body: Type.Optional(Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false })),
        response: { 200: Type.Ref(ChangeRequest) },
      },
    },
    async (request) =>
      changeRequests.reject(await ctx.principal(request), request.params.id, request.body?.reason ?? ''),
  );

  app.post(
    '/v1/change-requests/:id/comments',
    {
      schema: {
        tags: ['change control'],
        summary: 'Comment on a change request',
        params: IdParams,
        body: Type.Object({ text: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
        response: { 200: Type.Ref(ChangeRequest) },
      },
    },
    async (request) => changeRequests.comment(await ctx.principal(request), request.params.id, request.body.text),
  );

  app.post(
    '/v1/change-requests/:id/rebase',
    {
      schema: {
        tags: ['change control'],
        summary:
          'Make a stale change request against the current state (409 rebase_conflict when its entries changed); approvals start again',
        params: IdParams,
        response: { 200: Type.Ref(ChangeRequest) },
      },
    },
    async (request) => changeRequests.rebase(await ctx.principal(request), request.params.id),
  );

  app.get(
    '/v1/namespaces/:ns/approval',
    {
      schema: {
        tags: ['change control'],
        summary: "The namespace's approval rule (null: commits and releases go ahead at once)",
        params: NamespaceParams,
        response: { 200: Approval },
      },
    },
    async (request) => {
      await ctx.services.namespaces.getNamespace(await ctx.principal(request), request.params.ns);
      return { approval: await changeSettings.approvalRule(request.params.ns) };
    },
  );

  app.put(
    '/v1/namespaces/:ns/approval',
    {
      schema: {
        tags: ['change control'],
        summary: 'Set the approval rule: commits (and, with releases, releases) become change requests',
        params: NamespaceParams,
        body: ApprovalRule,
        response: { 200: Approval },
      },
    },
    async (request) => ({
      approval: await changeSettings.setApproval(await ctx.principal(request), request.params.ns, request.body),
    }),
  );

  const windowsAnswer = async (scope: string) => {
    const block = await changeSettings.blockedNow(scope);
    const windows = await changeSettings.windows(scope);
    return {
      windows,
      ...(block
        ? {
            blocked: {
              window: block.window.name,
              scope: block.scope,
              until: new Date(block.until).toISOString(),
              describe: block.describe,
            },
          }
        : {}),
    };
  };

  app.get(
    '/v1/namespaces/:ns/windows',
    {
      schema: {
        tags: ['change control'],
        summary: "The namespace's change windows, and the window (its own or the system's) blocking it now",
        params: NamespaceParams,
        response: { 200: WindowsAnswer },
      },
    },
    async (request) => {
      await ctx.services.namespaces.getNamespace(await ctx.principal(request), request.params.ns);
      return windowsAnswer(request.params.ns);
    },
  );

  app.put(
    '/v1/namespaces/:ns/windows',
    {
      schema: {
        tags: ['change control'],
        summary: 'Set the change windows of a namespace: no release starts and no wave advances inside one',
        params: NamespaceParams,
        body: Windows,
        response: { 200: WindowsAnswer },
      },
    },
    async (request) => {
      await changeSettings.setWindows(await ctx.principal(request), request.params.ns, request.body.windows);
      return windowsAnswer(request.params.ns);
    },
  );

  app.get(
    '/v1/windows',
    {
      schema: {
        tags: ['change control'],
        summary: 'The change windows of every namespace (the system)',
        response: { 200: WindowsAnswer },
      },
    },
    async (request) => {
      await ctx.principal(request);
      return windowsAnswer(everyNamespace);
    },
  );

  app.put(
    '/v1/windows',
    {
      schema: {
        tags: ['change control'],
        summary: 'Set the change windows of every namespace (admin of *)',
        body: Windows,
        response: { 200: WindowsAnswer },
      },
    },
    async (request) => {
      await changeSettings.setWindows(await ctx.principal(request), everyNamespace, request.body.windows);
      return windowsAnswer(everyNamespace);
    },
  );

  app.post(
    '/v1/namespaces/:ns/rollout/override-window',
    {
      schema: {
        tags: ['change control'],
        summary: "Let the running rollout's waves advance through change windows (admin), with a reason, audited",
        params: NamespaceParams,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ rolloutId: Type.String(), reason: Type.String() }) },
      },
    },
    async (request) =>
      changeSettings.overrideActiveRollout(await ctx.principal(request), request.params.ns, request.body.reason),
  );

  app.get(
    '/v1/schedules',
    {
      schema: {
        tags: ['change control'],
        summary: 'Scheduled releases and applications the token may read, newest first',
        querystring: Type.Object(
          {
            namespace: Type.Optional(Type.String()),
            state: Type.Optional(
              Type.Union([
                Type.Literal('pending'),
                Type.Literal('running'),
                Type.Literal('done'),
                Type.Literal('failed'),
                Type.Literal('cancelled'),
              ]),
            ),
            limit: Limit,
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Schedule) }) },
      },
    },
    async (request) => ({
      items: await schedules.list(await ctx.principal(request), {
        ...(request.query.namespace === undefined ? {} : { namespace: request.query.namespace }),
        ...(request.query.state === undefined ? {} : { state: request.query.state }),
        limit: request.query.limit ?? 100,
      }),
    }),
  );

  app.post(
    '/v1/namespaces/:ns/schedules',
    {
      schema: {
        tags: ['change control'],
        summary: 'Schedule a release of the namespace (carried out by the leader at that time)',
        params: NamespaceParams,
        body: Type.Object(
          {
            at: At,
            note: Type.Optional(Type.String({ maxLength: 4096 })),
            supersede: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: Schedule },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await schedules.create(await ctx.principal(request), request.params.ns, request.body)),
  );

  app.post(
    '/v1/schedules/:id/cancel',
    {
      schema: {
        tags: ['change control'],
        summary: 'Cancel a pending schedule',
        params: IdParams,
        body: Type.Optional(Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false })),
        response: { 200: Schedule },
      },
    },
    async (request) => schedules.cancel(await ctx.principal(request), request.params.id, request.body?.reason ?? ''),
  );
}
