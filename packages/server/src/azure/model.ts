import { randomBytes } from 'node:crypto';
import { entryEtag, sha256, type EntryVersion } from '@herald/core';
import type { SnapshotRecord } from '@herald/store';
import { invalidArgument } from './request-target.js';

/** The wire shapes of the Azure App Configuration data plane, and how Herald entries map onto them. */

export const mediaTypes = {
  kv: 'application/vnd.microsoft.appconfig.kv+json; charset=utf-8',
  kvset: 'application/vnd.microsoft.appconfig.kvset+json; charset=utf-8',
  keyset: 'application/vnd.microsoft.appconfig.keyset+json; charset=utf-8',
  labelset: 'application/vnd.microsoft.appconfig.labelset+json; charset=utf-8',
  snapshot: 'application/vnd.microsoft.appconfig.snapshot+json; charset=utf-8',
  snapshotset: 'application/vnd.microsoft.appconfig.snapshotset+json; charset=utf-8',
  json: 'application/json; charset=utf-8',
  problem: 'application/problem+json; charset=utf-8',
} as const;

/** Azure items are at most 100 per page. */
export const pageSize = 100;

/** A page of an Azure listing, before it is rendered. */
export interface AzurePage<T> {
  items: T[];
  /** The continuation token of the next page, when there is one. */
  next?: string;
  /** What the page's etag is computed from. */
  etagBasis: unknown;
}

export interface AzureKeyValue {
  etag: string;
  key: string;
  /** null is the "no label" label: Herald's empty label. */
  label: string | null;
  /** null when the entry has no content type: Herald's empty content type. */
  content_type: string | null;
  /** null for a secret the key may not read. */
  value: string | null;
  tags: Record<string, string>;
  locked: boolean;
  last_modified: string;
}

export const keyValueFields = [
  'key',
  'label',
  'content_type',
  'value',
  'last_modified',
  'tags',
  'locked',
  'etag',
] as const;

export function toKeyValue(version: EntryVersion, plaintext: string | null): AzureKeyValue {
  return {
    etag: entryEtag(version, version.revision),
    key: version.key,
    label: version.label === '' ? null : version.label,
    content_type: version.contentType === '' ? null : version.contentType,
    value: plaintext,
    tags: version.tags,
    locked: version.locked,
    last_modified: new Date(version.createdAt).toISOString(),
  };
}

/** `$select=key,value`: the fields asked for, checked against the ones the item has. */
export function parseSelect(raw: string | undefined, allowed: readonly string[]): string[] | undefined {
  if (raw === undefined || raw === '') return undefined;
  const fields = raw.split(',').map((f) => f.trim());
  for (const field of fields) {
    if (!allowed.includes(field))
      throw invalidArgument('$select', `$select: unknown field "${field}"; choose from ${allowed.join(', ')}`);
  }
  return fields;
}

export function project<T extends object>(item: T, fields: readonly string[] | undefined): Partial<T> {
  if (!fields) return item;
  const out: Record<string, unknown> = {};
  for (const field of fields) if (Object.hasOwn(item, field)) out[field] = (item as Record<string, unknown>)[field];
  return out as Partial<T>;
}

/**
 * A page's etag: a hash of what the page holds (the items as sent, and each entry's etag), so it
 * changes exactly when the page does. The provider's "watch all" refresh sends it back in
 * If-None-Match and reloads only on a 200.
 */
export function pageEtag(parts: unknown): string {
  return sha256(JSON.stringify(parts), 'base64url');
}

/** Continuation tokens: base64url, so they survive the SDK's decode-and-resend unchanged. */
export function encodeToken(parts: ReadonlyArray<string | number>): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

export function decodeToken(token: string, shape: ReadonlyArray<'string' | 'number'>): Array<string | number> {
  let parts: unknown;
  try {
    parts = /^[A-Za-z0-9_-]+$/u.test(token) ? JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) : undefined;
  } catch {
    parts = undefined;
  }
  if (!Array.isArray(parts) || parts.length !== shape.length || parts.some((p, i) => typeof p !== shape[i])) {
    throw invalidArgument('after', 'the "after" continuation token was not issued by this server for this listing');
  }
  return parts as Array<string | number>;
}

/** Byte order of UTF-8, the order the stores sort keys and labels in. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function addressOrder(a: { key: string; label: string }, b: { key: string; label: string }): number {
  return byteOrder(a.key, b.key) || byteOrder(a.label, b.label);
}

export const snapshotFields = [
  'name',
  'status',
  'filters',
  'composition_type',
  'created',
  'expires',
  'retention_period',
  'size',
  'items_count',
  'tags',
  'etag',
] as const;

export interface AzureSnapshot {
  etag: string;
  name: string;
  status: string;
  filters: Array<{ key: string; label?: string; tags?: string[] }>;
  composition_type: string;
  created: string;
  expires: string | null;
  retention_period: number;
  size: number;
  items_count: number;
  tags: Record<string, string>;
}

export function toAzureSnapshot(record: SnapshotRecord): AzureSnapshot {
  return {
    etag: record.etag,
    name: record.name,
    status: record.status,
    filters: record.filters,
    composition_type: record.compositionType,
    created: new Date(record.createdAt).toISOString(),
    expires: record.expiresAt === null ? null : new Date(record.expiresAt).toISOString(),
    retention_period: record.retentionPeriod,
    size: record.size,
    items_count: record.itemsCount,
    tags: record.tags,
  };
}

export function newSnapshotEtag(): string {
  return randomBytes(16).toString('base64url');
}
