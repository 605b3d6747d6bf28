import type { AuditRecord, CommitRecord, EntryVersion, NamespaceSchema } from '@herald/core';
import type {
  NamespaceRecord,
  ReleaseKind,
  ReleaseRecord,
  RolloutRecord,
  ControlRecord,
  SigningKeyRecord,
  SnapshotRecord,
  SnapshotStatus,
  TokenRecord,
} from './types.js';

/**
 * Rows as both adapters select them, their mapping to records, and records to the column values
 * both adapters insert: one definition, so the two stores cannot drift apart. SQLite stores flags as 0/1 and PostgreSQL as booleans; an entry's
 * value is text in SQLite and bytea in PostgreSQL (whose text cannot hold U+0000).
 */
type Flag = boolean | number;

const flag = (value: Flag): boolean => value === true || value === 1;

export interface EntryRow {
  namespace: string;
  key: string;
  label: string;
  revision: number;
  /** SQLite */
  text?: string;
  /** PostgreSQL */
  value?: Buffer;
  content_type: string;
  tags: string;
  locked: Flag;
  secret: Flag;
  deleted: Flag;
  author: string;
  created_at: number;
}

export function toVersion(row: EntryRow): EntryVersion {
  return {
    namespace: row.namespace,
    key: row.key,
    label: row.label,
    revision: row.revision,
    text: row.text ?? (row.value as Buffer).toString('utf8'),
    contentType: row.content_type,
    tags: JSON.parse(row.tags) as Record<string, string>,
    locked: flag(row.locked),
    secret: flag(row.secret),
    deleted: flag(row.deleted),
    author: row.author,
    createdAt: row.created_at,
  };
}

export interface NamespaceRow {
  name: string;
  description: string;
  schema: string | null;
  policy: string | null;
  revision: number;
  entry_count: number;
  created_at: number;
}

export function toNamespace(row: NamespaceRow): NamespaceRecord {
  return {
    name: row.name,
    description: row.description,
    schema: row.schema === null ? null : (JSON.parse(row.schema) as NamespaceSchema),
    policy: row.policy === null ? null : (JSON.parse(row.policy) as Record<string, unknown>),
    revision: row.revision,
    entryCount: row.entry_count,
    createdAt: row.created_at,
  };
}

/** JSON columns of a namespace that a patch may change, as stored (null stays null). */
export function namespaceJson(value: NamespaceSchema | Record<string, unknown> | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

export interface CommitRow {
  revision: number;
  namespace: string;
  author: string;
  message: string;
  created_at: number;
  changes: string;
}

export function toCommit(row: CommitRow): CommitRecord {
  return {
    revision: row.revision,
    namespace: row.namespace,
    author: row.author,
    message: row.message,
    createdAt: row.created_at,
    changes: JSON.parse(row.changes) as CommitRecord['changes'],
  };
}

export interface TokenRow {
  id: string;
  name: string;
  scopes: string;
  token_hash: string;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  revoked_at: number | null;
}

export function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as TokenRecord['scopes'],
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/** The columns of `tokens` in insert order: id, name, scopes, token_hash, created_at, created_by, expires_at, revoked_at. */
export const tokenColumns = 'id, name, scopes, token_hash, created_at, created_by, expires_at, revoked_at';

export function tokenValues(token: TokenRecord): unknown[] {
  return [
    token.id,
    token.name,
    JSON.stringify(token.scopes),
    token.tokenHash,
    token.createdAt,
    token.createdBy,
    token.expiresAt,
    token.revokedAt,
  ];
}

export interface SigningKeyRow {
  key_id: string;
  public_key: string;
  encrypted_private_key: string;
  created_at: number;
  endorsed_by: string | null;
}

export function toSigningKey(row: SigningKeyRow): SigningKeyRecord {
  return {
    keyId: row.key_id,
    publicKey: row.public_key,
    encryptedPrivateKey: row.encrypted_private_key,
    createdAt: Number(row.created_at),
    endorsedBy: row.endorsed_by === null ? null : (JSON.parse(row.endorsed_by) as SigningKeyRecord['endorsedBy']),
  };
}

export const signingKeyColumns = 'key_id, public_key, encrypted_private_key, created_at, endorsed_by';

export function signingKeyValues(key: SigningKeyRecord): unknown[] {
  return [
    key.keyId,
    key.publicKey,
    key.encryptedPrivateKey,
    key.createdAt,
    key.endorsedBy === null ? null : JSON.stringify(key.endorsedBy),
  ];
}

export interface AuditRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  details: string;
  prev_hash: string;
  hash: string;
}

export function toAudit(row: AuditRow): AuditRecord {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    target: row.target,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export interface SnapshotRow {
  namespace: string;
  name: string;
  status: string;
  filters: string;
  composition_type: string;
  retention_period: number;
  tags: string;
  created_at: number;
  expires_at: number | null;
  revision: number;
  items_count: number;
  size: number;
  etag: string;
}

export function toSnapshot(row: SnapshotRow): SnapshotRecord {
  return {
    namespace: row.namespace,
    name: row.name,
    status: row.status as SnapshotStatus,
    filters: JSON.parse(row.filters) as SnapshotRecord['filters'],
    compositionType: row.composition_type as SnapshotRecord['compositionType'],
    retentionPeriod: row.retention_period,
    tags: JSON.parse(row.tags) as Record<string, string>,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revision: row.revision,
    itemsCount: row.items_count,
    size: row.size,
    etag: row.etag,
  };
}

export const snapshotColumns =
  'namespace, name, status, filters, composition_type, retention_period, tags, created_at, expires_at, revision, items_count, size, etag';

export function snapshotValues(record: SnapshotRecord): unknown[] {
  return [
    record.namespace,
    record.name,
    record.status,
    JSON.stringify(record.filters),
    record.compositionType,
    record.retentionPeriod,
    JSON.stringify(record.tags),
    record.createdAt,
    record.expiresAt,
    record.revision,
    record.itemsCount,
    record.size,
    record.etag,
  ];
}

export interface ReleaseRow {
  namespace: string;
  seq: number | string;
  revision: number | string;
  kind: string;
  author: string;
  note: string;
  created_at: number | string;
}

export function toRelease(row: ReleaseRow): ReleaseRecord {
  return {
    namespace: row.namespace,
    seq: Number(row.seq),
    revision: Number(row.revision),
    kind: row.kind as ReleaseKind,
    author: row.author,
    note: row.note,
    createdAt: Number(row.created_at),
  };
}

export interface RolloutRow {
  id: string;
  namespace: string;
  active: Flag;
  state: string;
  version: number | string;
  updated_at: number | string;
}

export function toRollout(row: RolloutRow): RolloutRecord {
  return {
    id: row.id,
    namespace: row.namespace,
    active: flag(row.active),
    state: JSON.parse(row.state) as Record<string, unknown>,
    version: Number(row.version),
    updatedAt: Number(row.updated_at),
  };
}

export interface ControlRow {
  kind: string;
  id: string;
  namespace: string;
  state: string;
  due_at: number | string | null;
  body: string;
  version: number | string;
  created_at: number | string;
  updated_at: number | string;
}

export function toControlRecord(row: ControlRow): ControlRecord {
  return {
    kind: row.kind as ControlRecord['kind'],
    id: row.id,
    namespace: row.namespace,
    state: row.state,
    dueAt: row.due_at === null ? null : Number(row.due_at),
    body: JSON.parse(row.body) as Record<string, unknown>,
    version: Number(row.version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
