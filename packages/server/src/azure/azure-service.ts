import {
  checkKey,
  checkLabel,
  checkTags,
  entryEtag,
  HeraldError,
  printable,
  type Clock,
  type EntryVersion,
  type Limits,
} from '@herald/core';
import type { EntryQuery, SnapshotFilter, SnapshotRecord, SnapshotStatus, Store } from '@herald/store';
import type { ChangeInput, ConfigService } from '../config-service.js';
import { canReadSecrets, requirePermission } from '../principal.js';
import type { AccessKeyCaller } from './access-keys.js';
import {
  exactValues,
  filterError,
  matchesName,
  matchesTags,
  parseNameFilter,
  parseTagFilters,
  type NameFilter,
} from './filters.js';
import {
  addressOrder,
  byteOrder,
  decodeToken,
  encodeToken,
  newSnapshotEtag,
  pageSize,
  toKeyValue,
  type AzureKeyValue,
} from './model.js';
import { invalidArgument } from './request-target.js';

/**
 * The Azure App Configuration data plane over Herald's model. Reads go to the store (with the same
 * permission checks as the admin API: `read` on the key's namespace, secrets only for keys allowed
 * to read them); every write is a ConfigService commit, so it gets a revision, history, an audit
 * record, schema validation and delivery like any other.
 */

/** If-Match / If-None-Match as sent, unquoted; `*` stays `*`. */
export interface Conditions {
  ifMatch?: string;
  ifNoneMatch?: string;
}

export interface ListQuery {
  key?: string;
  label?: string;
  tags: string[];
  after?: string;
  /** A revision to read the namespace at (Accept-Datetime); the current state when absent. */
  asOf?: number;
  snapshot?: string;
}

export interface Page<T> {
  items: T[];
  /** The continuation token of the next page, when there is one. */
  next?: string;
  /** What the page's etag is computed from. */
  etagBasis: unknown;
}

interface Written {
  kv: AzureKeyValue;
  revision: number;
}

/** Default retention of an archived snapshot, and its bounds (seconds), as the service has them. */
const defaultRetentionSeconds = 30 * 24 * 3600;
const minRetentionSeconds = 3600;
const maxRetentionSeconds = 90 * 24 * 3600;
const maxSnapshotFilters = 3;
const maxSnapshotNameLength = 256;
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/u;

export class AzureService {
  readonly #service: ConfigService;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #limits: Limits;
  /** Greater, in byte order, than any label within the limits: `after` it skips every label of a key. */
  readonly #pastEveryLabel: string;

  constructor(deps: { service: ConfigService; store: Store; clock: Clock; limits: Limits }) {
    this.#service = deps.service;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#limits = deps.limits;
    this.#pastEveryLabel = '\u{10FFFF}'.repeat(deps.limits.maxLabelLength + 1);
  }

  // --- reads ---

  /** The revision Accept-Datetime asks for: the namespace's newest commit at that time; undefined for "now". */
  async asOf(caller: AccessKeyCaller, acceptDatetime: string | undefined): Promise<number | undefined> {
    if (acceptDatetime === undefined) return undefined;
    const at = Date.parse(acceptDatetime);
    if (Number.isNaN(at))
      throw invalidArgument('Accept-Datetime', 'Accept-Datetime must be a date (ISO 8601 or an HTTP date)');
    if (at >= this.#clock.now()) return undefined;
    return this.#store.namespaceRevisionAt(caller.namespace, at);
  }

  async getKeyValue(
    caller: AccessKeyCaller,
    key: string,
    label: string,
    asOf?: number,
  ): Promise<AzureKeyValue | undefined> {
    this.#checkAddress(caller, 'read', key, label);
    const version = await this.#live(caller.namespace, key, label, asOf);
    return version && this.#toKeyValue(caller, version);
  }

  async listKeyValues(caller: AccessKeyCaller, query: ListQuery): Promise<Page<AzureKeyValue>> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const keyFilter = parseNameFilter(query.key, 'key');
    const labelFilter = parseNameFilter(query.label, 'label', { nullLabel: true });
    const tags = parseTagFilters(query.tags);
    const after = query.after === undefined ? undefined : addressToken(query.after);
    let source: AsyncIterable<EntryVersion>;
    if (query.snapshot !== undefined) {
      const snapshot = await this.getSnapshot(caller, query.snapshot);
      source = chunks(
        (from, limit) =>
          this.#store.readSnapshotItems({
            namespace: caller.namespace,
            name: snapshot.name,
            ...(from ? { after: from } : {}),
            limit,
          }),
        after,
      );
    } else {
      source = this.#entries(caller.namespace, keyFilter, labelFilter, query.asOf, after);
    }
    const matches = (v: EntryVersion) =>
      matchesName(keyFilter, v.key) && matchesName(labelFilter, v.label) && matchesTags(tags, v.tags);
    const { items, more } = await take(source, matches);
    await this.#checkNamespaceWhenEmpty(caller, items);
    const last = items.at(-1);
    return {
      items: items.map((v) => this.#toKeyValue(caller, v)),
      ...(more && last ? { next: encodeToken([last.key, last.label]) } : {}),
      etagBasis: items.map((v) => [v.key, v.label, v.revision, v.locked]),
    };
  }

  /** Versions of key-values, newest first (deletions are not listed: a deleted key-value has no value). */
  async listRevisions(caller: AccessKeyCaller, query: ListQuery): Promise<Page<AzureKeyValue>> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const keyFilter = parseNameFilter(query.key, 'key');
    const labelFilter = parseNameFilter(query.label, 'label', { nullLabel: true });
    const tags = parseTagFilters(query.tags);
    const after = query.after === undefined ? undefined : revisionToken(query.after);
    const keys = exactValues(keyFilter);
    const labels = exactValues(labelFilter);
    const source = this.#history(caller.namespace, {
      ...(keys?.length === 1 && keys[0] !== undefined ? { key: keys[0] } : {}),
      ...(labels?.length === 1 && labels[0] !== undefined ? { label: labels[0] } : {}),
      ...(after ? { after } : {}),
      ...(query.asOf === undefined ? {} : { maxRevision: query.asOf }),
    });
    const matches = (v: EntryVersion) =>
      !v.deleted && matchesName(keyFilter, v.key) && matchesName(labelFilter, v.label) && matchesTags(tags, v.tags);
    // History is unbounded, so one page reads at most so many versions: a filter that matches
    // little gives short (even empty) pages with a next link rather than a scan of everything.
    const { items, more, resume } = await take(source, matches, maxScannedVersions);
    if (items.length === 0 && !more) await this.#requireNamespace(caller.namespace);
    return {
      items: items.map((v) => this.#toKeyValue(caller, v)),
      ...(more && resume ? { next: encodeToken([resume.revision, resume.key, resume.label]) } : {}),
      etagBasis: items.map((v) => [v.key, v.label, v.revision, v.locked]),
    };
  }

  /** Distinct keys of the live key-values, in order. */
  async listKeys(
    caller: AccessKeyCaller,
    query: { name?: string; after?: string; asOf?: number },
  ): Promise<Page<{ name: string }>> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const filter = parseNameFilter(query.name, 'name');
    const after = query.after === undefined ? undefined : String(decodeToken(query.after, ['string'])[0]);
    const source = this.#entries(
      caller.namespace,
      filter,
      undefined,
      query.asOf,
      after === undefined ? undefined : { key: after, label: this.#pastEveryLabel },
    );
    const names: string[] = [];
    let more = false;
    for await (const version of source) {
      if (version.key === names.at(-1) || !matchesName(filter, version.key)) continue;
      if (names.length === pageSize) {
        more = true;
        break;
      }
      names.push(version.key);
    }
    const last = names.at(-1);
    return {
      items: names.map((name) => ({ name })),
      ...(more && last !== undefined ? { next: encodeToken([last]) } : {}),
      etagBasis: names,
    };
  }

  /** Distinct labels of the live key-values, in order; the empty label is `null`. */
  async listLabels(
    caller: AccessKeyCaller,
    query: { name?: string; after?: string; asOf?: number },
  ): Promise<Page<{ name: string | null }>> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const filter = parseNameFilter(query.name, 'name', { nullLabel: true });
    const after = query.after === undefined ? undefined : String(decodeToken(query.after, ['string'])[0]);
    const labels = new Set<string>();
    for await (const version of this.#entries(caller.namespace, undefined, filter, query.asOf, undefined))
      labels.add(version.label);
    const sorted = [...labels]
      .filter((l) => matchesName(filter, l) && (after === undefined || byteOrder(l, after) > 0))
      .sort(byteOrder);
    const page = sorted.slice(0, pageSize);
    const last = page.at(-1);
    return {
      items: page.map((name) => ({ name: name === '' ? null : name })),
      ...(sorted.length > pageSize && last !== undefined ? { next: encodeToken([last]) } : {}),
      etagBasis: page,
    };
  }

  // --- writes ---

  async putKeyValue(
    caller: AccessKeyCaller,
    key: string,
    label: string,
    body: unknown,
    conditions: Conditions,
  ): Promise<Written> {
    this.#checkAddress(caller, 'write', key, label);
    const input = parseKeyValueBody(body, this.#limits);
    const current = await this.#live(caller.namespace, key, label);
    const change: ChangeInput = {
      op: 'set',
      key,
      label,
      value: undefined,
      text: input.value,
      contentType: input.contentType,
      tags: input.tags,
      // A secret entry stays secret when the Azure API (which has no such notion) writes it.
      ...(current?.secret ? { secret: true } : {}),
      ...guard(current, conditions),
    };
    return this.#commitOne(caller, change);
  }

  /** The deleted key-value, or undefined when there was none (the service answers 204). */
  async deleteKeyValue(
    caller: AccessKeyCaller,
    key: string,
    label: string,
    conditions: Conditions,
  ): Promise<Written | undefined> {
    this.#checkAddress(caller, 'write', key, label);
    const current = await this.#live(caller.namespace, key, label);
    if (!current && conditions.ifMatch === undefined) return undefined;
    try {
      return await this.#commitOne(caller, { op: 'delete', key, label, ...guard(current, conditions) });
    } catch (error) {
      if (error instanceof HeraldError && error.code === 'entry_not_found' && conditions.ifMatch === undefined)
        return undefined;
      throw error;
    }
  }

  async setLock(
    caller: AccessKeyCaller,
    key: string,
    label: string,
    locked: boolean,
    conditions: Conditions,
  ): Promise<Written> {
    this.#checkAddress(caller, 'write', key, label);
    const current =
      conditions.ifMatch === undefined && conditions.ifNoneMatch === undefined
        ? undefined
        : await this.#live(caller.namespace, key, label);
    if (!current && (conditions.ifMatch !== undefined || conditions.ifNoneMatch !== undefined)) {
      throw new HeraldError(
        'entry_not_found',
        `key-value "${printable(key)}"${label ? ` (label "${printable(label)}")` : ''} does not exist`,
      );
    }
    return this.#commitOne(caller, { op: locked ? 'lock' : 'unlock', key, label, ...guard(current, conditions) });
  }

  // --- snapshots ---

  async createSnapshot(caller: AccessKeyCaller, name: string, body: unknown): Promise<SnapshotRecord> {
    requirePermission(caller.principal, 'write', caller.namespace);
    checkSnapshotName(name);
    const input = parseSnapshotBody(body, this.#limits);
    await this.#requireNamespace(caller.namespace);
    const revision = await this.#store.currentRevision();
    const chosen = new Map<string, EntryVersion>();
    for (const filter of input.filters) {
      const keyFilter = parseNameFilter(filter.key, 'filters.key');
      const labelFilter = parseNameFilter(filter.label ?? '', 'filters.label', { nullLabel: true });
      const tags = parseTagFilters(filter.tags ?? []);
      for await (const version of this.#entries(caller.namespace, keyFilter, labelFilter, revision, undefined)) {
        if (
          !matchesName(keyFilter, version.key) ||
          !matchesName(labelFilter, version.label) ||
          !matchesTags(tags, version.tags)
        )
          continue;
        // "key" composition: one key-value per key, the later filter winning; "key_label": every key and label.
        chosen.set(input.compositionType === 'key' ? version.key : `${version.key}\u0000${version.label}`, version);
      }
    }
    const items = [...chosen.values()].sort(addressOrder);
    const size = items.reduce(
      (sum, v) =>
        sum +
        Buffer.byteLength(v.key) +
        Buffer.byteLength(v.label) +
        Buffer.byteLength(v.text) +
        Buffer.byteLength(v.contentType) +
        Buffer.byteLength(JSON.stringify(v.tags)),
      0,
    );
    const record: SnapshotRecord = {
      namespace: caller.namespace,
      name,
      status: 'ready',
      filters: input.filters,
      compositionType: input.compositionType,
      retentionPeriod: input.retentionPeriod,
      tags: input.tags,
      createdAt: this.#clock.now(),
      expiresAt: null,
      revision,
      itemsCount: items.length,
      size,
      etag: newSnapshotEtag(),
    };
    return this.#store.createSnapshot(
      record,
      items,
      this.#audit(caller, 'azure.snapshot.create', { snapshot: name, revision, items: items.length }),
    );
  }

  /** A snapshot; `snapshot_not_found` when there is none, or it was archived and has expired. */
  async getSnapshot(caller: AccessKeyCaller, name: string): Promise<SnapshotRecord> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const record = await this.#store.getSnapshot(caller.namespace, name);
    if (!record || this.#expired(record))
      throw new HeraldError('snapshot_not_found', `snapshot "${printable(name)}" does not exist`);
    return record;
  }

  async listSnapshots(
    caller: AccessKeyCaller,
    query: { name?: string; status?: string; after?: string },
  ): Promise<Page<SnapshotRecord>> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const filter = parseNameFilter(query.name, 'name');
    const statuses = query.status === undefined ? undefined : query.status.split(',').map((s) => s.trim());
    for (const status of statuses ?? []) {
      if (!['provisioning', 'ready', 'archived', 'failed'].includes(status))
        throw filterError('status', `unknown status "${status}"`);
    }
    let after = query.after === undefined ? undefined : String(decodeToken(query.after, ['string'])[0]);
    const items: SnapshotRecord[] = [];
    let more = false;
    const chunk = pageSize + 1;
    outer: for (;;) {
      const records = await this.#store.listSnapshots({
        namespace: caller.namespace,
        ...(after === undefined ? {} : { after }),
        limit: chunk,
      });
      for (const record of records) {
        if (
          this.#expired(record) ||
          !matchesName(filter, record.name) ||
          (statuses && !statuses.includes(record.status))
        )
          continue;
        if (items.length === pageSize) {
          more = true;
          break outer;
        }
        items.push(record);
      }
      if (records.length < chunk) break;
      after = records.at(-1)?.name;
    }
    const last = items.at(-1);
    return {
      items,
      ...(more && last ? { next: encodeToken([last.name]) } : {}),
      etagBasis: items.map((s) => [s.name, s.etag]),
    };
  }

  /** Archives (`{"status":"archived"}`) or recovers (`{"status":"ready"}`) a snapshot. */
  async updateSnapshot(
    caller: AccessKeyCaller,
    name: string,
    body: unknown,
    ifMatch: string | undefined,
  ): Promise<SnapshotRecord> {
    requirePermission(caller.principal, 'write', caller.namespace);
    const status = parseStatusPatch(body);
    const current = await this.getSnapshot(caller, name);
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== current.etag) {
      throw new HeraldError(
        'precondition_failed',
        `snapshot "${printable(name)}" has changed (its etag is not "${printable(ifMatch)}")`,
        { extensions: { conflicts: [] } },
      );
    }
    if (current.status === status) return current;
    if (current.status !== 'ready' && current.status !== 'archived') {
      throw invalidArgument('status', `a ${current.status} snapshot cannot become ${status}`);
    }
    const expiresAt = status === 'archived' ? this.#clock.now() + current.retentionPeriod * 1000 : null;
    return this.#store.updateSnapshot(
      caller.namespace,
      name,
      { status, expiresAt, etag: newSnapshotEtag() },
      current.etag,
      this.#audit(caller, status === 'archived' ? 'azure.snapshot.archive' : 'azure.snapshot.recover', {
        snapshot: name,
      }),
    );
  }

  // --- internals ---

  #checkAddress(caller: AccessKeyCaller, permission: 'read' | 'write', key: string, label: string): void {
    requirePermission(caller.principal, permission, caller.namespace);
    checkKey(key, this.#limits);
    checkLabel(label, this.#limits);
  }

  #toKeyValue(caller: AccessKeyCaller, version: EntryVersion): AzureKeyValue {
    const readable = !version.secret || canReadSecrets(caller.principal, caller.namespace);
    return toKeyValue(version, readable ? this.#service.codec.plaintext(version) : null);
  }

  async #live(namespace: string, key: string, label: string, asOf?: number): Promise<EntryVersion | undefined> {
    // Before the namespace's first commit nothing existed (and revision 0 may be compacted away).
    if (asOf === 0) return undefined;
    const [version] = await this.#store.readEntries({
      namespace,
      key,
      labels: [label],
      ...(asOf === undefined ? {} : { asOf }),
    });
    return version;
  }

  async #commitOne(caller: AccessKeyCaller, change: ChangeInput): Promise<Written> {
    const outcome = await this.#service.commit(caller.principal, caller.namespace, { changes: [change] });
    // The version this commit wrote, as stored: its text is the verbatim value (and a tombstone keeps the deleted one).
    const [version] = await this.#store.entryHistory({
      namespace: caller.namespace,
      key: change.key,
      label: change.label ?? '',
      beforeRevision: outcome.revision + 1,
      limit: 1,
    });
    if (!version || version.revision !== outcome.revision)
      throw new HeraldError('internal', 'the version just written could not be read back');
    return { kv: this.#toKeyValue(caller, version), revision: outcome.revision };
  }

  /**
   * Live entries in (key, label) order after `after`: one store query per exact or prefix key
   * alternative, merged; a single scan when an alternative needs one. Exact labels are selected by
   * the store; every other condition is the caller's to check.
   */
  #entries(
    namespace: string,
    keyFilter: NameFilter | undefined,
    labelFilter: NameFilter | undefined,
    asOf: number | undefined,
    after: { key: string; label: string } | undefined,
  ): AsyncIterable<EntryVersion> {
    if (asOf === 0) return empty();
    const labels = exactValues(labelFilter);
    const base: EntryQuery = { namespace, ...(asOf === undefined ? {} : { asOf }), ...(labels ? { labels } : {}) };
    const read = (query: EntryQuery) =>
      chunks((from, limit) => this.#store.readEntries({ ...query, ...(from ? { after: from } : {}), limit }), after);
    if (!keyFilter || keyFilter.some((m) => m.kind !== 'exact' && m.kind !== 'prefix')) return read(base);
    const streams = keyFilter.map((m) =>
      read(m.kind === 'exact' ? { ...base, key: m.value } : { ...base, keyPrefix: (m as { value: string }).value }),
    );
    return streams.length === 1 ? (streams[0] as AsyncIterable<EntryVersion>) : merge(streams);
  }

  /**
   * Versions newest first, in (revision desc, key, label) order, after a cursor. The store pages
   * history by revision only, so each chunk is larger than the largest commit: a chunk that starts
   * inside a revision always gets past it.
   */
  async *#history(
    namespace: string,
    options: {
      key?: string;
      label?: string;
      after?: { revision: number; key: string; label: string };
      maxRevision?: number;
    },
  ): AsyncGenerator<EntryVersion> {
    const chunk = this.#limits.maxChangesPerCommit + pageSize + 1;
    let skip = options.after;
    let before = skip ? skip.revision + 1 : options.maxRevision === undefined ? undefined : options.maxRevision + 1;
    for (;;) {
      const rows = await this.#store.entryHistory({
        namespace,
        order: 'newest',
        limit: chunk,
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.label === undefined ? {} : { label: options.label }),
        ...(before === undefined ? {} : { beforeRevision: before }),
      });
      for (const row of rows) {
        if (skip && row.revision === skip.revision && addressOrder(row, skip) <= 0) continue;
        yield row;
      }
      const last = rows.at(-1);
      if (rows.length < chunk || !last) return;
      before = last.revision + 1;
      skip = { revision: last.revision, key: last.key, label: last.label };
    }
  }

  async #checkNamespaceWhenEmpty(caller: AccessKeyCaller, items: readonly unknown[]): Promise<void> {
    // A key bound to a namespace that does not exist (any more) says so, rather than listing nothing.
    if (items.length === 0) await this.#requireNamespace(caller.namespace);
  }

  async #requireNamespace(namespace: string): Promise<void> {
    if (!(await this.#store.getNamespace(namespace)))
      throw new HeraldError(
        'namespace_not_found',
        `namespace "${namespace}" (the store of this access key) does not exist`,
      );
  }

  #expired(record: SnapshotRecord): boolean {
    return record.status === 'archived' && record.expiresAt !== null && record.expiresAt <= this.#clock.now();
  }

  #audit(caller: AccessKeyCaller, action: string, details: Record<string, unknown>) {
    const { principal } = caller;
    return {
      actor: principal.name ? `${principal.name} (${principal.tokenId})` : principal.tokenId,
      action,
      target: `namespace:${caller.namespace}`,
      details,
    };
  }
}

/** Turns If-Match / If-None-Match into commit preconditions, failing at once when the entry read now does not satisfy them. */
function guard(current: EntryVersion | undefined, conditions: Conditions): Pick<ChangeInput, 'ifEtag' | 'ifAbsent'> {
  const etag = current ? entryEtag(current, current.revision) : undefined;
  const failed = (expected: string) =>
    new HeraldError('precondition_failed', `precondition failed, nothing changed: expected ${expected}`, {
      extensions: {
        conflicts: current
          ? [{ key: current.key, label: current.label, expected, actualRevision: current.revision }]
          : [],
      },
    });
  if (conditions.ifMatch !== undefined) {
    if (!etag) throw failed(conditions.ifMatch === '*' ? 'an existing key-value' : `etag "${conditions.ifMatch}"`);
    if (conditions.ifMatch !== '*' && conditions.ifMatch !== etag) throw failed(`etag "${conditions.ifMatch}"`);
    return { ifEtag: etag };
  }
  if (conditions.ifNoneMatch !== undefined) {
    if (conditions.ifNoneMatch === '*' || conditions.ifNoneMatch === etag) {
      if (etag) throw failed(conditions.ifNoneMatch === '*' ? 'no key-value' : `an etag other than "${etag}"`);
    }
    return etag ? { ifEtag: etag } : { ifAbsent: true };
  }
  return {};
}

interface KeyValueInput {
  value: string;
  contentType: string;
  tags: Record<string, string>;
}

/** A PUT body: `value`, `content_type` and `tags` are used; read-only members the SDK echoes back (etag, last_modified, locked, key, label) are ignored. */
function parseKeyValueBody(body: unknown, limits: Limits): KeyValueInput {
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

function parseSnapshotBody(
  body: unknown,
  limits: Limits,
): {
  filters: SnapshotFilter[];
  compositionType: 'key' | 'key_label';
  retentionPeriod: number;
  tags: Record<string, string>;
} {
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

function parseStatusPatch(body: unknown): SnapshotStatus {
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

function checkSnapshotName(name: string): void {
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

function addressToken(token: string): { key: string; label: string } {
  const [key, label] = decodeToken(token, ['string', 'string']) as [string, string];
  return { key, label };
}

function revisionToken(token: string): { revision: number; key: string; label: string } {
  const [revision, key, label] = decodeToken(token, ['number', 'string', 'string']) as [number, string, string];
  return { revision, key, label };
}

/**
 * Up to a page of matching items, and whether more follow. With a budget, at most that many items
 * are read; when it runs out first, `more` is true and `resume` is where the next page starts
 * (otherwise it is the last item of the page).
 */
async function take<T>(
  source: AsyncIterable<T>,
  matches: (item: T) => boolean,
  budget = Infinity,
): Promise<{ items: T[]; more: boolean; resume: T | undefined }> {
  const items: T[] = [];
  let scanned = 0;
  let last: T | undefined;
  for await (const item of source) {
    if (scanned >= budget) return { items, more: true, resume: last };
    scanned += 1;
    if (matches(item)) {
      if (items.length === pageSize) return { items, more: true, resume: items.at(-1) };
      items.push(item);
    }
    last = item;
  }
  return { items, more: false, resume: items.at(-1) };
}

/** Versions one page of /revisions reads at most. */
const maxScannedVersions = 20_000;

const chunkSize = 250;

/** A keyset-paged store read as one stream. */
async function* chunks(
  read: (after: { key: string; label: string } | undefined, limit: number) => Promise<EntryVersion[]>,
  after: { key: string; label: string } | undefined,
): AsyncGenerator<EntryVersion> {
  let cursor = after;
  for (;;) {
    const rows = await read(cursor, chunkSize);
    yield* rows;
    const last = rows.at(-1);
    if (rows.length < chunkSize || !last) return;
    cursor = { key: last.key, label: last.label };
  }
}

/** Merges streams that are each in (key, label) order into one, without duplicates. */
async function* merge(streams: Array<AsyncIterable<EntryVersion>>): AsyncGenerator<EntryVersion> {
  const iterators = streams.map((s) => s[Symbol.asyncIterator]());
  const heads = await Promise.all(iterators.map((it) => it.next()));
  for (;;) {
    let smallest: EntryVersion | undefined;
    for (const head of heads)
      if (!head.done && (!smallest || addressOrder(head.value, smallest) < 0)) smallest = head.value;
    if (!smallest) return;
    yield smallest;
    const current = smallest;
    await Promise.all(
      heads.map(async (head, i) => {
        if (!head.done && addressOrder(head.value, current) === 0)
          heads[i] = await (iterators[i] as AsyncIterator<EntryVersion>).next();
      }),
    );
  }
}

async function* empty(): AsyncGenerator<EntryVersion> {}
