import { HeraldError, printable, type Clock, type EntryVersion, type Limits } from '@herald/core';
import type { SnapshotRecord, Store } from '@herald/store';
import { auditBy, requirePermission } from '../principal.js';
import type { AccessKeyCaller } from './access-keys.js';
import { checkSnapshotName, parseSnapshotBody, parseStatusPatch } from './bodies.js';
import type { EntrySource } from './entry-source.js';
import { filterError, matchesName, matchesTags, parseNameFilter, parseTagFilters } from './filters.js';
import { addressOrder, decodeToken, encodeToken, newSnapshotEtag, pageSize, type AzurePage } from './model.js';
import { invalidArgument } from './request-target.js';

export type SnapshotStore = Pick<
  Store,
  'currentRevision' | 'createSnapshot' | 'getSnapshot' | 'listSnapshots' | 'updateSnapshot'
>;

/**
 * Azure snapshots: a named, immutable copy of the key-values some filters select at one revision,
 * made at once (there is no provisioning), archived and recovered, gone once archived past its
 * retention. Their items are read through `EntrySource.snapshotItems`.
 */
export class Snapshots {
  readonly #store: SnapshotStore;
  readonly #source: EntrySource;
  readonly #clock: Clock;
  readonly #limits: Limits;

  constructor(deps: { store: SnapshotStore; source: EntrySource; clock: Clock; limits: Limits }) {
    this.#store = deps.store;
    this.#source = deps.source;
    this.#clock = deps.clock;
    this.#limits = deps.limits;
  }

  async createSnapshot(caller: AccessKeyCaller, name: string, body: unknown): Promise<SnapshotRecord> {
    requirePermission(caller.principal, 'write', caller.namespace);
    checkSnapshotName(name);
    const input = parseSnapshotBody(body, this.#limits);
    await this.#source.requireNamespace(caller.namespace);
    const revision = await this.#store.currentRevision();
    const chosen = new Map<string, EntryVersion>();
    for (const filter of input.filters) {
      const keyFilter = parseNameFilter(filter.key, 'filters.key');
      const labelFilter = parseNameFilter(filter.label ?? '', 'filters.label', { nullLabel: true });
      const tags = parseTagFilters(filter.tags ?? []);
      for await (const version of this.#source.entries(caller.namespace, keyFilter, labelFilter, revision, undefined)) {
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
  ): Promise<AzurePage<SnapshotRecord>> {
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

  #expired(record: SnapshotRecord): boolean {
    return record.status === 'archived' && record.expiresAt !== null && record.expiresAt <= this.#clock.now();
  }

  #audit(caller: AccessKeyCaller, action: string, details: Record<string, unknown>) {
    return auditBy(caller.principal, action, `namespace:${caller.namespace}`, details);
  }
}
