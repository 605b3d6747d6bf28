import { HeraldError, type Conflict } from './errors.js';
import { addressId, describeAddress, type EntryVersion } from './entry.js';

/** Conditions a single change may carry; any that fails aborts the whole commit. */
export interface ChangePrecondition {
  /** The entry's current revision must be this one. */
  ifRevision?: number;
  /** The entry's current ETag must be this one. */
  ifEtag?: string;
  /** The entry must not exist. */
  ifAbsent?: boolean;
}

export type Change =
  | ({
      op: 'set';
      key: string;
      label: string;
      text: string;
      contentType: string;
      tags: Record<string, string>;
      secret: boolean;
    } & ChangePrecondition)
  | ({ op: 'delete' | 'lock' | 'unlock'; key: string; label: string } & ChangePrecondition);

export interface CommitRequest {
  namespace: string;
  changes: Change[];
  author: string;
  message: string;
  /** Fail unless no commit has touched the namespace after this revision (optimistic whole-namespace check). */
  ifNamespaceRevision?: number;
  /** Also make a release of the namespace at this commit's revision, in the same transaction (the `immediate` policy). */
  release?: boolean;
}

export interface CommitRecord {
  revision: number;
  namespace: string;
  author: string;
  message: string;
  createdAt: number;
  changes: Array<{ op: Change['op']; key: string; label: string }>;
}

export interface PlannedCommit {
  versions: EntryVersion[];
  /** Change in the number of live entries of the namespace. */
  liveDelta: number;
}

/**
 * Decides what a commit writes, given the current version of every entry it touches. Pure: both
 * store adapters call it inside their transaction, so preconditions and locks mean the same thing
 * on SQLite and PostgreSQL. Throws `precondition_failed` listing every conflicting entry (checked
 * first, for all changes), else `entry_locked` or `entry_not_found`, and then nothing may be written.
 */
export function planCommit(
  request: CommitRequest,
  current: ReadonlyMap<string, EntryVersion>,
  etagOf: (version: EntryVersion) => string,
  revision: number,
  now: number,
): PlannedCommit {
  const liveOf = (change: Change): EntryVersion | undefined => {
    const existing = current.get(addressId(change));
    return existing !== undefined && !existing.deleted ? existing : undefined;
  };
  // Every precondition is checked before any change is planned, so the client learns of all its
  // stale entries at once, and a stale view is reported as such rather than as a lock or a
  // missing entry further down the commit.
  const conflicts: Conflict[] = [];
  for (const change of request.changes) {
    const conflict = checkPrecondition(change, liveOf(change), etagOf);
    if (conflict) conflicts.push(conflict);
  }
  if (conflicts.length > 0) {
    const described = conflicts.map(
      (c) =>
        `${describeAddress(c)} expected ${c.expected}, is ${c.actualRevision === null ? 'absent' : `at revision ${c.actualRevision}`}`,
    );
    throw new HeraldError('precondition_failed', `precondition failed, nothing changed: ${described.join('; ')}`, {
      extensions: { conflicts },
    });
  }
  const versions: EntryVersion[] = [];
  let liveDelta = 0;
  for (const change of request.changes) {
    const live = liveOf(change);
    if (live?.locked && change.op !== 'unlock' && change.op !== 'lock') {
      throw new HeraldError('entry_locked', `entry ${describeAddress(change)} is locked; unlock it first`, {
        extensions: { key: change.key, label: change.label },
      });
    }
    const base = {
      namespace: request.namespace,
      key: change.key,
      label: change.label,
      revision,
      author: request.author,
      createdAt: now,
    };
    switch (change.op) {
      case 'set':
        if (!live) liveDelta += 1;
        versions.push({
          ...base,
          text: change.text,
          contentType: change.contentType,
          tags: change.tags,
          secret: change.secret,
          locked: false,
          deleted: false,
        });
        break;
      case 'delete':
      case 'lock':
      case 'unlock':
        if (!live) throw new HeraldError('entry_not_found', `entry ${describeAddress(change)} does not exist`);
        if (change.op === 'delete') liveDelta -= 1;
        versions.push({ ...live, ...base, locked: change.op === 'lock', deleted: change.op === 'delete' });
        break;
    }
  }
  return { versions, liveDelta };
}

function checkPrecondition(
  change: Change,
  live: EntryVersion | undefined,
  etagOf: (version: EntryVersion) => string,
): Conflict | undefined {
  const actualRevision = live ? live.revision : null;
  const conflict = (expected: string): Conflict => ({ key: change.key, label: change.label, expected, actualRevision });
  if (change.ifAbsent && live) return conflict('absent');
  // ifRevision 0 means "absent": compare it with null, the actual revision of a missing entry.
  if (change.ifRevision !== undefined && actualRevision !== (change.ifRevision === 0 ? null : change.ifRevision)) {
    return conflict(change.ifRevision === 0 ? 'absent' : `revision ${change.ifRevision}`);
  }
  if (change.ifEtag !== undefined && (!live || etagOf(live) !== change.ifEtag))
    return conflict(`etag "${change.ifEtag}"`);
  return undefined;
}

/** Refuses a commit that names the same entry twice: the order of such changes would be a guess. */
export function checkDistinctChanges(changes: readonly Change[]): void {
  const seen = new Set<string>();
  for (const change of changes) {
    const id = addressId(change);
    if (seen.has(id))
      throw new HeraldError('duplicate_change', `entry ${describeAddress(change)} appears twice in one commit`);
    seen.add(id);
  }
}
