import { HeraldError, type EntryVersion, type Limits } from '@herald/core';
import type { EntryQuery, Store } from '@herald/store';
import { exactValues, type NameFilter } from './filters.js';
import { addressOrder, pageSize } from './model.js';

/**
 * A namespace's entries, history and snapshot items read from the store as ordered streams, for
 * the Azure listings to filter and page: the store pages by keyset, the Azure API by filters the
 * store cannot express, so pages are cut here.
 */

export type EntrySourceStore = Pick<Store, 'getNamespace' | 'readEntries' | 'entryHistory' | 'readSnapshotItems'>;

type Address = { key: string; label: string };

export class EntrySource {
  readonly #store: EntrySourceStore;
  readonly #limits: Limits;

  constructor(deps: { store: EntrySourceStore; limits: Limits }) {
    this.#store = deps.store;
    this.#limits = deps.limits;
  }

  /** The live version at an address (at a past revision with `asOf`). */
  async live(namespace: string, key: string, label: string, asOf?: number): Promise<EntryVersion | undefined> {
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

  /**
   * Live entries in (key, label) order after `after`: one store query per exact or prefix key
   * alternative, merged; a single scan when an alternative needs one. Exact labels are selected by
   * the store; every other condition is the caller's to check.
   */
  entries(
    namespace: string,
    keyFilter: NameFilter | undefined,
    labelFilter: NameFilter | undefined,
    asOf: number | undefined,
    after: Address | undefined,
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

  /** A snapshot's items in (key, label) order after `after`. */
  snapshotItems(namespace: string, name: string, after: Address | undefined): AsyncIterable<EntryVersion> {
    return chunks(
      (from, limit) => this.#store.readSnapshotItems({ namespace, name, ...(from ? { after: from } : {}), limit }),
      after,
    );
  }

  /**
   * Versions newest first, in (revision desc, key, label) order, after a cursor. The store pages
   * history by revision only, so each chunk is larger than the largest commit: a chunk that starts
   * inside a revision always gets past it.
   */
  async *history(
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

  /** `namespace_not_found` when the access key's namespace does not exist (any more). */
  async requireNamespace(namespace: string): Promise<void> {
    if (!(await this.#store.getNamespace(namespace)))
      throw new HeraldError(
        'namespace_not_found',
        `namespace "${namespace}" (the store of this access key) does not exist`,
      );
  }
}

/**
 * Up to a page of matching items, and whether more follow. With a budget, at most that many items
 * are read; when it runs out first, `more` is true and `resume` is where the next page starts
 * (otherwise it is the last item of the page).
 */
export async function take<T>(
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

const chunkSize = 250;

/** A keyset-paged store read as one stream. */
async function* chunks(
  read: (after: Address | undefined, limit: number) => Promise<EntryVersion[]>,
  after: Address | undefined,
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
