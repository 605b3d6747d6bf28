import { checkTags, printable, type Limits } from '@herald/core';
import type { SnapshotFilter, SnapshotStatus } from '@herald/store';
import { exactValues, parseNameFilter, parseTagFilters } from './filters.js';
import { invalidArgument } from './request-target.js';

/** The JSON bodies the Azure data plane accepts, parsed and checked: a 400 for anything the service would refuse. */

/** Default retention of an archived snapshot, and its bounds (seconds), as the service has them. */
const defaultRetentionSeconds = 30 * 24 * 3600;
const minRetentionSeconds = 3600;
const maxRetentionSeconds = 90 * 24 * 3600;
const maxSnapshotFilters = 3;
const maxSnapshotNameLength = 256;
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/u;

export interface KeyValueInput {
  value: string;
  contentType: string;
  tags: Record<string, string>;
}

export interface SnapshotInput {
  filters: SnapshotFilter[];
  compositionType: 'key' | 'key_label';
  retentionPeriod: number;
  tags: Record<string, string>;
}

/** A PUT body: `value`, `content_type` and `tags` are used; read-only members the SDK echoes back (etag, last_modified, locked, key, label) are ignored. */
export function parseKeyValueBody(body: unknown, limits: Limits): KeyValueInput {
  if (body === undefined) return { value: '', contentType: '', tags: {} };
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw invalidArgument('body', 'the body must be a JSON object');
  const { value, content_type: contentType, tags } = body as Record<string, unknown>;
  if (value !== undefined && value !== null && typeof value !== 'string')
    throw invalidArgument('value', 'value must be a string or null');
  if (contentType !== undefined && contentType !== null && typeof contentType !== 'string')
    throw invalidArgument('content_type', 'content_type must be a string or null');
  if (typeof contentType === 'string' && (contentType.length > 256 || controlCharacters.test(contentType))) {
    throw invalidArgument('content_type', 'content_type must be at most 256 characters, without control characters');
  }
  const parsedTags = parseTags(tags, 'tags');
  checkTags(parsedTags, limits);
  return { value: value ?? '', contentType: contentType ?? '', tags: parsedTags };
}

export function parseSnapshotBody(body: unknown, limits: Limits): SnapshotInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw invalidArgument('body', 'the body must be a JSON object');
  const input = body as Record<string, unknown>;
  const filters = input.filters;
  if (!Array.isArray(filters) || filters.length === 0 || filters.length > maxSnapshotFilters) {
    throw invalidArgument('filters', `filters must be an array of 1 to ${maxSnapshotFilters} filters`);
  }
  const parsed = filters.map((f: unknown): SnapshotFilter => {
    if (f === null || typeof f !== 'object' || Array.isArray(f))
      throw invalidArgument('filters', 'each filter must be an object with a key');
    const { key, label, tags } = f as Record<string, unknown>;
    if (typeof key !== 'string' || key === '') throw invalidArgument('filters.key', 'each filter needs a key filter');
    if (label !== undefined && label !== null && typeof label !== 'string')
      throw invalidArgument('filters.label', 'a label filter must be a string');
    if (tags !== undefined && (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')))
      throw invalidArgument('filters.tags', 'tag filters must be strings name=value');
    // Checked now, so a bad filter is a 400 and not a snapshot that can never be made.
    parseNameFilter(key, 'filters.key');
    parseTagFilters((tags as string[] | undefined) ?? []);
    return { key, ...(typeof label === 'string' ? { label } : {}), ...(tags ? { tags: tags as string[] } : {}) };
  });
  const composition = input.composition_type ?? 'key';
  if (composition !== 'key' && composition !== 'key_label')
    throw invalidArgument('composition_type', 'composition_type must be "key" or "key_label"');
  for (const filter of parsed) {
    const labels = parseNameFilter(filter.label ?? '', 'filters.label', { nullLabel: true });
    // As the service: with one key-value per key, a filter names one label (null when omitted).
    if (composition === 'key' && exactValues(labels)?.length !== 1) {
      throw invalidArgument(
        'filters.label',
        'label filters that match several labels ("*", "a,b") need composition_type "key_label"',
      );
    }
  }
  const retention = input.retention_period ?? defaultRetentionSeconds;
  if (
    typeof retention !== 'number' ||
    !Number.isInteger(retention) ||
    retention < minRetentionSeconds ||
    retention > maxRetentionSeconds
  ) {
    throw invalidArgument(
      'retention_period',
      `retention_period must be whole seconds from ${minRetentionSeconds} to ${maxRetentionSeconds}`,
    );
  }
  const tags = parseTags(input.tags, 'tags');
  checkTags(tags, limits);
  return { filters: parsed, compositionType: composition, retentionPeriod: retention, tags };
}

export function parseStatusPatch(body: unknown): SnapshotStatus {
  const status =
    body !== null && typeof body === 'object' && !Array.isArray(body)
      ? (body as Record<string, unknown>).status
      : undefined;
  if (status !== 'archived' && status !== 'ready')
    throw invalidArgument(
      'status',
      'send {"status": "archived"} to archive a snapshot or {"status": "ready"} to recover it',
    );
  return status;
}

export function checkSnapshotName(name: string): void {
  if (
    name.length === 0 ||
    name.length > maxSnapshotNameLength ||
    controlCharacters.test(name) ||
    !name.isWellFormed()
  ) {
    throw invalidArgument(
      'name',
      `a snapshot name is 1 to ${maxSnapshotNameLength} characters, without control characters`,
    );
  }
}

function parseTags(tags: unknown, name: string): Record<string, string> {
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== 'object' || Array.isArray(tags))
    throw invalidArgument(name, `${name} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [tag, value] of Object.entries(tags as Record<string, unknown>)) {
    if (value !== null && typeof value !== 'string')
      throw invalidArgument(name, `tag "${printable(tag)}" must have a string value`);
    out[tag] = value ?? '';
  }
  return out;
}
