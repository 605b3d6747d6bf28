import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError } from '@herald/core';
import { pagingOf, sendPage, type HeraldApp, type RouteContext } from '../http/context.js';
import type { ChangeInput } from '../services/change-input.js';
import {
  ChangeRequestOpenedBody,
  CommitBody,
  CommitResponse,
  DiffItem,
  Entry,
  HistoryItem,
  NamespaceParams,
  Paging,
  PutEntryBody,
} from '../http/schemas.js';

const EntryParams = Type.Object({
  ns: Type.String(),
  '*': Type.String({ description: 'The key, URL-encoded; "/" may stay unencoded' }),
});
const LabelQuery = Type.Object({ label: Type.Optional(Type.String()) }, { additionalProperties: false });
const Revision = Type.Integer({ minimum: 0 });
const SecretsQuery = Type.Optional(
  Type.Literal('masked', {
    description: "masked: a secret's value is null for every caller (the web console reveals it on purpose, audited)",
  }),
);

/** A secret's value left out, whoever asks (`?secrets=masked`). */
const masked = <E extends { secret: boolean; value: unknown }>(entry: E): E =>
  entry.secret ? { ...entry, value: null } : entry;

/** The value of an If-Match / If-None-Match header without its quotes; undefined when absent. */
function etagHeader(request: FastifyRequest, name: 'if-match' | 'if-none-match'): string | undefined {
  const raw: string | string[] | undefined = request.headers[name];
  const value = typeof raw === 'string' ? raw : raw?.[0];
  return value
    ?.trim()
    .replace(/^W\//u, '')
    .replace(/^"(.*)"$/u, '$1');
}

export function registerEntryRoutes(app: HeraldApp, ctx: RouteContext): void {
  app.get(
    '/v1/namespaces/:ns/entries',
    {
      schema: {
        tags: ['entries'],
        summary: 'List live entries, in (key, label) order, optionally as of a past revision',
        params: NamespaceParams,
        querystring: Type.Object(
          {
            prefix: Type.Optional(Type.String()),
            label: Type.Optional(Type.Array(Type.String(), { description: 'Repeat to select several labels' })),
            asOf: Type.Optional(Revision),
            secrets: SecretsQuery,
            ...Paging,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            revision: Type.Integer(),
            items: Type.Array(Type.Ref(Entry)),
            next: Type.Optional(Type.String()),
          }),
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await ctx.services.entries.listEntries(await ctx.principal(request), request.params.ns, {
        ...pagingOf(q, 100),
        ...(q.prefix ? { prefix: q.prefix } : {}),
        ...(q.label ? { labels: q.label } : {}),
        ...(q.asOf === undefined ? {} : { asOf: q.asOf }),
      });
      return sendPage(request, reply, q.secrets === 'masked' ? { ...page, items: page.items.map(masked) } : page);
    },
  );

  app.get(
    '/v1/namespaces/:ns/entries/*',
    {
      schema: {
        tags: ['entries'],
        summary: 'Read one entry (ETag header; If-None-Match gives 304)',
        params: EntryParams,
        querystring: Type.Object(
          { label: Type.Optional(Type.String()), asOf: Type.Optional(Revision), secrets: SecretsQuery },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref(Entry), 304: Type.Null() },
      },
    },
    async (request, reply) => {
      const entry = await ctx.services.entries.readEntry(
        await ctx.principal(request),
        request.params.ns,
        request.params['*'],
        request.query.label ?? '',
        request.query.asOf,
      );
      void reply.header('etag', `"${entry.etag}"`);
      if (etagHeader(request, 'if-none-match') === entry.etag) return reply.code(304).send(null);
      return request.query.secrets === 'masked' ? masked(entry) : entry;
    },
  );

  app.put(
    '/v1/namespaces/:ns/entries/*',
    {
      schema: {
        tags: ['entries'],
        summary: 'Set one entry as a commit of its own (If-Match: etag, If-None-Match: * for create-only)',
        params: EntryParams,
        querystring: LabelQuery,
        body: PutEntryBody,
        response: { 200: Type.Ref(Entry), 202: ChangeRequestOpenedBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const ifMatch = etagHeader(request, 'if-match');
      const change: ChangeInput = {
        op: 'set',
        key: request.params['*'],
        label: request.query.label ?? '',
        value: body.value,
        ...(body.contentType === undefined ? {} : { contentType: body.contentType }),
        ...(body.tags === undefined ? {} : { tags: body.tags }),
        ...(body.secret === undefined ? {} : { secret: body.secret }),
        ...(body.ifRevision === undefined ? {} : { ifRevision: body.ifRevision }),
        ...(ifMatch === undefined || ifMatch === '*' ? {} : { ifEtag: ifMatch }),
        ...(etagHeader(request, 'if-none-match') === '*' ? { ifAbsent: true } : {}),
      };
      const outcome = await ctx.services.entries.commit(await ctx.principal(request), request.params.ns, {
        changes: [change],
        ...(body.message === undefined ? {} : { message: body.message }),
      });
      const entry = outcome.entries[0];
      if (!entry) throw new HeraldError('internal', 'the commit returned no entry');
      return reply.header('etag', `"${entry.etag}"`).header('herald-revision', String(outcome.revision)).send(entry);
    },
  );

  const singleChange =
    (op: 'delete' | 'lock' | 'unlock') =>
    async (
      request: FastifyRequest<{ Params: { ns: string; '*': string }; Querystring: { label?: string } }>,
      reply: FastifyReply,
    ) => {
      const ifMatch = etagHeader(request, 'if-match');
      const outcome = await ctx.services.entries.commit(await ctx.principal(request), request.params.ns, {
        changes: [
          {
            op,
            key: request.params['*'],
            label: request.query.label ?? '',
            ...(ifMatch && ifMatch !== '*' ? { ifEtag: ifMatch } : {}),
          },
        ],
      });
      void reply.header('herald-revision', String(outcome.revision));
      return outcome;
    };
  const singleChangeSchema = (summary: string) => ({
    schema: {
      tags: ['entries'],
      summary,
      params: EntryParams,
      querystring: LabelQuery,
      response: { 200: CommitResponse, 202: ChangeRequestOpenedBody },
    },
  });
  app.delete(
    '/v1/namespaces/:ns/entries/*',
    singleChangeSchema('Delete one entry (If-Match: etag)'),
    singleChange('delete'),
  );
  app.put(
    '/v1/namespaces/:ns/locks/*',
    singleChangeSchema('Lock an entry: read-only until unlocked'),
    singleChange('lock'),
  );
  app.delete('/v1/namespaces/:ns/locks/*', singleChangeSchema('Unlock an entry'), singleChange('unlock'));

  app.post(
    '/v1/namespaces/:ns/commits',
    {
      schema: {
        tags: ['entries'],
        summary: 'Apply several changes atomically at one new revision, with optional preconditions',
        params: NamespaceParams,
        body: CommitBody,
        response: { 201: CommitResponse, 202: ChangeRequestOpenedBody },
      },
    },
    async (request, reply) => {
      const outcome = await ctx.services.entries.commit(await ctx.principal(request), request.params.ns, request.body);
      return reply.code(201).header('herald-revision', String(outcome.revision)).send(outcome);
    },
  );

  app.get(
    '/v1/namespaces/:ns/history',
    {
      schema: {
        tags: ['history'],
        summary: 'Commits of a namespace (or versions of one key), newest or oldest first, with the values written',
        params: NamespaceParams,
        querystring: Type.Object(
          {
            key: Type.Optional(Type.String()),
            label: Type.Optional(Type.String()),
            order: Type.Optional(Type.Union([Type.Literal('newest'), Type.Literal('oldest')])),
            ...Paging,
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(HistoryItem), next: Type.Optional(Type.String()) }) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = await ctx.services.history.history(await ctx.principal(request), request.params.ns, {
        ...pagingOf(q, 50),
        order: q.order ?? 'newest',
        ...(q.key === undefined ? {} : { key: q.key }),
        ...(q.label === undefined ? {} : { label: q.label }),
      });
      return sendPage(request, reply, page);
    },
  );

  app.get(
    '/v1/namespaces/:ns/diff',
    {
      schema: {
        tags: ['history'],
        summary: 'What changed between two revisions (to defaults to the current one)',
        params: NamespaceParams,
        querystring: Type.Object(
          {
            from: Revision,
            to: Type.Optional(Revision),
            label: Type.Optional(Type.String()),
            key: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ from: Type.Integer(), to: Type.Integer(), changes: Type.Array(DiffItem) }) },
      },
    },
    async (request) => {
      const q = request.query;
      return ctx.services.history.diff(await ctx.principal(request), request.params.ns, {
        from: q.from,
        ...(q.to === undefined ? {} : { to: q.to }),
        ...(q.label === undefined ? {} : { label: q.label }),
        ...(q.key === undefined ? {} : { key: q.key }),
      });
    },
  );

  const RestoreBody = Type.Object(
    {
      revision: Revision,
      key: Type.Optional(Type.String()),
      label: Type.Optional(Type.String()),
      message: Type.Optional(Type.String({ maxLength: 4096 })),
      dryRun: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  );
  const RestoreAnswer = Type.Object({
    revision: Type.Union([Type.Integer(), Type.Null()]),
    changes: Type.Array(DiffItem),
  });
  const restore = async (request: FastifyRequest<{ Params: { ns: string }; Body: typeof RestoreBody.static }>) =>
    ctx.services.entries.restore(await ctx.principal(request), request.params.ns, request.body);

  app.post(
    '/v1/namespaces/:ns/restore',
    {
      schema: {
        tags: ['history'],
        summary:
          'Restore the namespace (or one key or label) to a revision, as a new commit: later commits there are undone; dryRun shows the diff only',
        params: NamespaceParams,
        body: RestoreBody,
        response: { 200: RestoreAnswer, 202: ChangeRequestOpenedBody },
      },
    },
    restore,
  );

  // The first name of restore: scripts call it, so it stays, with the same body and answer.
  app.post(
    '/v1/namespaces/:ns/revert',
    {
      schema: {
        tags: ['history'],
        summary: 'The same as POST /v1/namespaces/{ns}/restore (its first name, kept for scripts)',
        params: NamespaceParams,
        body: RestoreBody,
        response: { 200: RestoreAnswer, 202: ChangeRequestOpenedBody },
      },
    },
    restore,
  );

  app.post(
    '/v1/namespaces/:ns/commits/:revision/revert',
    {
      schema: {
        tags: ['history'],
        summary:
          "Revert one commit, as a new commit: the inverse of its changes, each guarded by the entry's revision; 409 revert_conflict when a later commit changed the same entries",
        params: Type.Object({ ns: Type.String(), revision: Type.Integer({ minimum: 1 }) }),
        body: Type.Optional(
          Type.Object(
            { message: Type.Optional(Type.String({ maxLength: 4096 })), dryRun: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
        ),
        response: {
          200: Type.Object({
            revision: Type.Union([Type.Integer(), Type.Null()]),
            reverted: Type.Integer(),
            changes: Type.Array(DiffItem),
          }),
          202: ChangeRequestOpenedBody,
        },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      return ctx.services.entries.revertCommit(await ctx.principal(request), request.params.ns, {
        revision: request.params.revision,
        ...(body.message === undefined ? {} : { message: body.message }),
        ...(body.dryRun === undefined ? {} : { dryRun: body.dryRun }),
      });
    },
  );
}
