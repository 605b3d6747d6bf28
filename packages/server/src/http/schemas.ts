import { Type, type Static } from '@sinclair/typebox';
import { roles } from '@herald/core';

/** Wire schemas of the admin API. Fastify validates requests against them and @fastify/swagger publishes them, so the OpenAPI document is what the server does. */

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'Stable error code; see docs/errors.md' }),
    detail: Type.String(),
    instance: Type.String({ description: 'Request id, also in the server logs' }),
  },
  { $id: 'Problem', additionalProperties: true, description: 'RFC 9457 problem details' },
);

const Tags = Type.Record(Type.String(), Type.String());

export const Entry = Type.Object(
  {
    namespace: Type.String(),
    key: Type.String(),
    label: Type.String(),
    value: Type.Unknown({ description: 'JSON for JSON content types, a string otherwise; null when redacted' }),
    contentType: Type.String(),
    tags: Tags,
    locked: Type.Boolean(),
    secret: Type.Boolean(),
    redacted: Type.Boolean(),
    revision: Type.Integer(),
    etag: Type.String(),
    author: Type.String(),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Entry' },
);

export const Namespace = Type.Object(
  {
    name: Type.String(),
    description: Type.String(),
    revision: Type.Integer(),
    entryCount: Type.Integer(),
    hasSchema: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Namespace' },
);

const JsonSchemaObject = Type.Record(Type.String(), Type.Unknown());

export const NamespaceSchemaBody = Type.Object(
  {
    document: Type.Optional(JsonSchemaObject),
    prefixes: Type.Optional(
      Type.Array(Type.Object({ prefix: Type.String(), schema: JsonSchemaObject }, { additionalProperties: false })),
    ),
  },
  { additionalProperties: false },
);

const Preconditions = {
  ifRevision: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Current revision the entry must be at; 0 means absent' }),
  ),
  ifEtag: Type.Optional(Type.String()),
  ifAbsent: Type.Optional(Type.Boolean()),
};

export const SetChange = Type.Object(
  {
    op: Type.Literal('set'),
    key: Type.String(),
    label: Type.Optional(Type.String()),
    value: Type.Unknown(),
    contentType: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    tags: Type.Optional(Tags),
    secret: Type.Optional(Type.Boolean()),
    ...Preconditions,
  },
  { additionalProperties: false },
);

export const OtherChange = Type.Object(
  {
    op: Type.Union([Type.Literal('delete'), Type.Literal('lock'), Type.Literal('unlock')]),
    key: Type.String(),
    label: Type.Optional(Type.String()),
    ...Preconditions,
  },
  { additionalProperties: false },
);

export const CommitBody = Type.Object(
  {
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    changes: Type.Array(Type.Union([SetChange, OtherChange]), { minItems: 1 }),
    ifNamespaceRevision: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const PutEntryBody = Type.Object(
  {
    value: Type.Unknown(),
    contentType: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    tags: Type.Optional(Tags),
    secret: Type.Optional(Type.Boolean()),
    message: Type.Optional(Type.String({ maxLength: 4096 })),
    ifRevision: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const CommitResponse = Type.Object({
  revision: Type.Integer(),
  entries: Type.Array(Type.Ref(Entry)),
  releaseSeq: Type.Optional(Type.Integer({ description: 'The release made with the commit (immediate policy)' })),
});

export const HistoryItem = Type.Object({
  revision: Type.Integer(),
  author: Type.String(),
  message: Type.String(),
  at: Type.String({ format: 'date-time' }),
  changes: Type.Array(
    Type.Object({ op: Type.String(), key: Type.String(), label: Type.String(), entry: Type.Optional(Type.Ref(Entry)) }),
  ),
});

export const DiffItem = Type.Object({
  key: Type.String(),
  label: Type.String(),
  kind: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]),
  before: Type.Optional(Type.Ref(Entry)),
  after: Type.Optional(Type.Ref(Entry)),
});

export const ChangeRequest = Type.Object(
  {
    id: Type.String(),
    namespace: Type.String(),
    kind: Type.Union([Type.Literal('commit'), Type.Literal('release')]),
    state: Type.Union([Type.Literal('open'), Type.Literal('applied'), Type.Literal('rejected'), Type.Literal('stale')]),
    author: Type.String(),
    message: Type.String(),
    baseRevision: Type.Integer({ description: 'The namespace revision the change was made against' }),
    current: Type.Boolean({ description: 'Whether the namespace is still at baseRevision (only then can it apply)' }),
    required: Type.Integer(),
    approvers: Type.Optional(Type.Array(Type.String())),
    approvals: Type.Array(Type.Object({ by: Type.String(), at: Type.String() })),
    comments: Type.Array(Type.Object({ by: Type.String(), at: Type.String(), text: Type.String() })),
    rejected: Type.Optional(Type.Object({ by: Type.String(), at: Type.String(), reason: Type.String() })),
    applied: Type.Optional(
      Type.Object({
        by: Type.String(),
        at: Type.String(),
        revision: Type.Optional(Type.Integer()),
        releaseSeq: Type.Optional(Type.Integer()),
        rolloutId: Type.Optional(Type.String()),
      }),
    ),
    changes: Type.Optional(Type.Array(DiffItem)),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'ChangeRequest' },
);

/** The answer (202) to a commit or release of a namespace that requires approval. */
export const ChangeRequestOpenedBody = Type.Object({
  changeRequest: Type.Ref(ChangeRequest),
  message: Type.String(),
});

export const Scope = Type.Object(
  {
    namespaces: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'Namespace glob: * any run, ? one character',
    }),
    role: Type.Union(roles.map((role) => Type.Literal(role))),
    secrets: Type.Optional(Type.Boolean({ description: 'May read secret values (admins always may)' })),
    relay: Type.Optional(
      Type.Boolean({
        description:
          "A relay's credential: reports it forwards bind each instance to its client's own credential (admins always may)",
      }),
    ),
  },
  { additionalProperties: false },
);

export const TokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Scope),
  createdAt: Type.String(),
  createdBy: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});

export const AuditRecord = Type.Object({
  seq: Type.Integer(),
  at: Type.Integer({ description: 'Milliseconds since the epoch' }),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
  prevHash: Type.String(),
  hash: Type.String(),
});

export const Paging = {
  cursor: Type.Optional(Type.String({ maxLength: 2048 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
};

export const NamespaceParams = Type.Object({ ns: Type.String() });

export type CommitBodyType = Static<typeof CommitBody>;
export type PutEntryBodyType = Static<typeof PutEntryBody>;
