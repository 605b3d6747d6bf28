import {
  addressId,
  checkKey,
  decodeCursor,
  diffStates,
  type Change,
  type CommitRecord,
  type EntryDiff,
  type EntryVersion,
  type Limits,
  type Page,
} from '@herald/core';
import type { Store } from '@herald/store';
import type { EntryCodec, EntryView } from '../entry-codec.js';
import { auditBy, canReadSecrets, requirePermission, requireSystemAdmin, type Principal } from '../principal.js';
import { requireNamespace } from './namespace-service.js';
import { pageOf } from './paging.js';

export interface HistoryItem {
  revision: number;
  author: string;
  message: string;
  at: string;
  changes: Array<{ op: Change['op']; key: string; label: string; entry?: EntryView }>;
}

export interface DiffItem {
  key: string;
  label: string;
  kind: EntryDiff['kind'];
  before?: EntryView;
  after?: EntryView;
}

export type HistoryStore = Pick<
  Store,
  'getNamespace' | 'listCommits' | 'entryHistory' | 'readEntries' | 'currentRevision' | 'compact'
>;

/** The past of a namespace: its commits, the versions of a key, what changed between revisions, and dropping old history. */
export class HistoryService {
  readonly #store: HistoryStore;
  readonly #codec: EntryCodec;
  readonly #limits: Limits;

  constructor(deps: { store: HistoryStore; codec: EntryCodec; limits: Limits }) {
    this.#store = deps.store;
    this.#codec = deps.codec;
    this.#limits = deps.limits;
  }

  async history(
    principal: Principal,
    namespace: string,
    query: { key?: string; label?: string; order: 'newest' | 'oldest'; cursor?: string; limit: number },
  ): Promise<Page<HistoryItem>> {
    requirePermission(principal, 'read', namespace);
    await requireNamespace(this.#store, namespace);
    const secrets = canReadSecrets(principal, namespace);
    const afterRevision = query.cursor === undefined ? undefined : Number(decodeCursor(query.cursor, ['number'])[0]);
    if (query.key !== undefined)
      return this.#keyHistory(namespace, query.key, query.label, query.order, afterRevision, query.limit, secrets);
    const commits = await this.#store.listCommits({
      namespace,
      order: query.order,
      limit: query.limit + 1,
      ...(afterRevision === undefined ? {} : { afterRevision }),
    });
    const page = pageOf(commits, query.limit, (last) => [last.revision]);
    const versions =
      page.items.length === 0 ? new Map<string, EntryVersion>() : await this.#versionsOfCommits(namespace, page.items);
    const items = page.items.map((commit) => ({
      ...commitHeader(commit),
      changes: commit.changes.map((change) => {
        const version = versions.get(`${commit.revision}\u0000${addressId(change)}`);
        return { ...change, ...(version ? { entry: this.#codec.view(version, secrets) } : {}) };
      }),
    }));
    return { ...page, items };
  }

  async diff(
    principal: Principal,
    namespace: string,
    query: { from: number; to?: number; label?: string; key?: string },
  ): Promise<{ from: number; to: number; changes: DiffItem[] }> {
    requirePermission(principal, 'read', namespace);
    await requireNamespace(this.#store, namespace);
    const to = query.to ?? (await this.#store.currentRevision());
    const scope = {
      ...(query.label === undefined ? {} : { labels: [query.label] }),
      ...(query.key === undefined ? {} : { key: query.key }),
    };
    const [before, after] = await Promise.all([
      this.#store.readEntries({ namespace, asOf: query.from, ...scope }),
      this.#store.readEntries({ namespace, asOf: to, ...scope }),
    ]);
    const secrets = canReadSecrets(principal, namespace);
    return { from: query.from, to, changes: diffStates(before, after).map((d) => diffItem(this.#codec, d, secrets)) };
  }

  async compact(principal: Principal, revision: number): Promise<{ revision: number; removedVersions: number }> {
    requireSystemAdmin(principal);
    return this.#store.compact(revision, auditBy(principal, 'store.compact', 'store', { requestedRevision: revision }));
  }

  async #keyHistory(
    namespace: string,
    key: string,
    label: string | undefined,
    order: 'newest' | 'oldest',
    afterRevision: number | undefined,
    limit: number,
    secrets: boolean,
  ): Promise<Page<HistoryItem>> {
    checkKey(key, this.#limits);
    // The cursor is the last revision shown: page on from it in the order asked for.
    const paging =
      afterRevision === undefined
        ? {}
        : order === 'oldest'
          ? { sinceRevision: afterRevision + 1 }
          : { beforeRevision: afterRevision };
    const versions = await this.#store.entryHistory({
      namespace,
      key,
      order,
      limit: limit + 1,
      ...(label === undefined ? {} : { label }),
      ...paging,
    });
    const page = pageOf(versions, limit, (last) => [last.revision]);
    const messages = await this.#commitMessages(
      namespace,
      page.items.map((v) => v.revision),
    );
    return {
      ...page,
      items: page.items.map((v) => ({
        revision: v.revision,
        author: v.author,
        message: messages.get(v.revision) ?? '',
        at: new Date(v.createdAt).toISOString(),
        changes: [
          { op: v.deleted ? 'delete' : 'set', key: v.key, label: v.label, entry: this.#codec.view(v, secrets) },
        ],
      })),
    };
  }

  /**
   * The messages of the commits that wrote a page of one key's versions: one lookup per revision
   * (a page is small; the revisions may be far apart, so a range could be the whole log).
   */
  async #commitMessages(namespace: string, revisions: number[]): Promise<Map<number, string>> {
    const commits = await Promise.all(
      revisions.map((revision) =>
        this.#store.listCommits({ namespace, order: 'oldest', afterRevision: revision - 1, limit: 1 }),
      ),
    );
    return new Map(commits.flat().map((commit) => [commit.revision, commit.message]));
  }

  /** The versions written by a page of commits, fetched in one query over their revision range. */
  async #versionsOfCommits(namespace: string, commits: CommitRecord[]): Promise<Map<string, EntryVersion>> {
    const revisions = commits.map((c) => c.revision);
    const lowest = Math.min(...revisions);
    const highest = Math.max(...revisions);
    const versions = await this.#store.entryHistory({
      namespace,
      beforeRevision: highest + 1,
      sinceRevision: lowest,
      limit: commits.reduce((sum, c) => sum + c.changes.length, 0) + 1,
    });
    return new Map(versions.map((v) => [`${v.revision}\u0000${addressId(v)}`, v]));
  }
}

/** A difference as the API shows it, the values redacted unless the caller may read secrets. */
export function diffItem(codec: EntryCodec, d: EntryDiff, secrets: boolean): DiffItem {
  return {
    key: d.key,
    label: d.label,
    kind: d.kind,
    ...(d.before ? { before: codec.view(d.before, secrets) } : {}),
    ...(d.after ? { after: codec.view(d.after, secrets) } : {}),
  };
}

function commitHeader(commit: CommitRecord): Omit<HistoryItem, 'changes'> {
  return {
    revision: commit.revision,
    author: commit.author,
    message: commit.message,
    at: new Date(commit.createdAt).toISOString(),
  };
}
