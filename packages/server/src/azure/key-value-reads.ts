import type { Clock, EntryVersion, Limits } from '@herald/core';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';
import { requirePermission } from '../principal.js';
import type { AccessKeyCaller } from './access-keys.js';
import { checkAddress, keyValueFor } from './caller.js';
import { take, type EntrySource } from './entry-source.js';
import { exactValues, matchesName, matchesTags, parseNameFilter, parseTagFilters, type NameFilter } from './filters.js';
import { byteOrder, decodeToken, encodeToken, pageSize, type AzureKeyValue, type AzurePage } from './model.js';
import { invalidArgument } from './request-target.js';
import type { Snapshots } from './snapshots.js';

/**
 * Reads of the Azure data plane: key-values (now, at a past time, or of a snapshot), their
 * revisions, and the distinct keys and labels. The same permission checks as the admin API:
 * `read` on the key's namespace, secrets only for keys allowed to read them.
 */

export interface ListQuery {
  key?: string;
  label?: string;
  tags: string[];
  after?: string;
  /** A revision to read the namespace at (Accept-Datetime); the current state when absent. */
  asOf?: number;
  snapshot?: string;
}

/** Versions one page of /revisions reads at most. */
const maxScannedVersions = 20_000;

export class KeyValueReads {
  readonly #store: Pick<Store, 'namespaceRevisionAt'>;
  readonly #source: EntrySource;
  readonly #snapshots: Snapshots;
  readonly #clock: Clock;
  readonly #limits: Limits;
  readonly #codec: EntryCodec;
  /** Greater, in byte order, than any label within the limits: `after` it skips every label of a key. */
  readonly #pastEveryLabel: string;

  constructor(deps: {
    store: Pick<Store, 'namespaceRevisionAt'>;
    source: EntrySource;
    snapshots: Snapshots;
    clock: Clock;
    limits: Limits;
    codec: EntryCodec;
  }) {
    this.#store = deps.store;
    this.#source = deps.source;
    this.#snapshots = deps.snapshots;
    this.#clock = deps.clock;
    this.#limits = deps.limits;
    this.#codec = deps.codec;
    this.#pastEveryLabel = '\u{10FFFF}'.repeat(deps.limits.maxLabelLength + 1);
  }

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
    checkAddress(caller, 'read', key, label, this.#limits);
    const version = await this.#source.live(caller.namespace, key, label, asOf);
    return version && keyValueFor(caller, version, this.#codec);
  }

  async listKeyValues(caller: AccessKeyCaller, query: ListQuery): Promise<AzurePage<AzureKeyValue>> {
    const { keyFilter, labelFilter, matches } = listFilters(caller, query);
    const after = query.after === undefined ? undefined : addressToken(query.after);
    let source: AsyncIterable<EntryVersion>;
    if (query.snapshot !== undefined) {
      const snapshot = await this.#snapshots.getSnapshot(caller, query.snapshot);
      source = this.#source.snapshotItems(caller.namespace, snapshot.name, after);
    } else {
      source = this.#source.entries(caller.namespace, keyFilter, labelFilter, query.asOf, after);
    }
    const { items, more } = await take(source, matches);
    // A key bound to a namespace that does not exist (any more) says so, rather than listing nothing.
    if (items.length === 0) await this.#source.requireNamespace(caller.namespace);
    const last = items.at(-1);
    return {
      items: items.map((v) => keyValueFor(caller, v, this.#codec)),
      ...(more && last ? { next: encodeToken([last.key, last.label]) } : {}),
      etagBasis: items.map((v) => [v.key, v.label, v.revision, v.locked]),
    };
  }

  /** Versions of key-values, newest first (deletions are not listed: a deleted key-value has no value). */
  async listRevisions(caller: AccessKeyCaller, query: ListQuery): Promise<AzurePage<AzureKeyValue>> {
    const { keyFilter, labelFilter, matches } = listFilters(caller, query);
    const after = query.after === undefined ? undefined : revisionToken(query.after);
    const keys = exactValues(keyFilter);
    const labels = exactValues(labelFilter);
    const source = this.#source.history(caller.namespace, {
      ...(keys?.length === 1 && keys[0] !== undefined ? { key: keys[0] } : {}),
      ...(labels?.length === 1 && labels[0] !== undefined ? { label: labels[0] } : {}),
      ...(after ? { after } : {}),
      ...(query.asOf === undefined ? {} : { maxRevision: query.asOf }),
    });
    // History is unbounded, so one page reads at most so many versions: a filter that matches
    // little gives short (even empty) pages with a next link rather than a scan of everything.
    const { items, more, resume } = await take(source, (v) => !v.deleted && matches(v), maxScannedVersions);
    if (items.length === 0 && !more) await this.#source.requireNamespace(caller.namespace);
    return {
      items: items.map((v) => keyValueFor(caller, v, this.#codec)),
      ...(more && resume ? { next: encodeToken([resume.revision, resume.key, resume.label]) } : {}),
      etagBasis: items.map((v) => [v.key, v.label, v.revision, v.locked]),
    };
  }

  /** Distinct keys of the live key-values, in order. */
  async listKeys(
    caller: AccessKeyCaller,
    query: { name?: string; after?: string; asOf?: number },
  ): Promise<AzurePage<{ name: string }>> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const filter = parseNameFilter(query.name, 'name');
    const after = query.after === undefined ? undefined : String(decodeToken(query.after, ['string'])[0]);
    const source = this.#source.entries(
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
  ): Promise<AzurePage<{ name: string | null }>> {
    requirePermission(caller.principal, 'read', caller.namespace);
    const filter = parseNameFilter(query.name, 'name', { nullLabel: true });
    const after = query.after === undefined ? undefined : String(decodeToken(query.after, ['string'])[0]);
    const labels = new Set<string>();
    for await (const version of this.#source.entries(caller.namespace, undefined, filter, query.asOf, undefined))
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
}

/** The key, label and tag filters of a key-value listing (after the read permission), and the test they make. */
function listFilters(
  caller: AccessKeyCaller,
  query: ListQuery,
): { keyFilter: NameFilter | undefined; labelFilter: NameFilter | undefined; matches: (v: EntryVersion) => boolean } {
  requirePermission(caller.principal, 'read', caller.namespace);
  const keyFilter = parseNameFilter(query.key, 'key');
  const labelFilter = parseNameFilter(query.label, 'label', { nullLabel: true });
  const tags = parseTagFilters(query.tags);
  const matches = (v: EntryVersion) =>
    matchesName(keyFilter, v.key) && matchesName(labelFilter, v.label) && matchesTags(tags, v.tags);
  return { keyFilter, labelFilter, matches };
}

function addressToken(token: string): { key: string; label: string } {
  const [key, label] = decodeToken(token, ['string', 'string']) as [string, string];
  return { key, label };
}

function revisionToken(token: string): { revision: number; key: string; label: string } {
  const [revision, key, label] = decodeToken(token, ['number', 'string', 'string']) as [number, string, string];
  return { revision, key, label };
}
