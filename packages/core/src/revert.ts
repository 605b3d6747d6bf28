import { addressId, type EntryAddress, type EntryVersion } from './entry.js';
import type { Change } from './commit.js';
import type { Conflict } from './errors.js';

/** What undoing one commit takes: the inverse changes, or the entries a later commit touched since. */
export interface CommitInverse {
  changes: Change[];
  conflicts: Conflict[];
}

/**
 * The inverse of one commit's changes. Each inverse change is guarded by the entry's current
 * revision (or its absence), so a commit made between this reading and the revert fails it rather
 * than being undone silently. An entry that a later commit has touched since is a conflict: undoing
 * the commit there would also discard the later change, which is what a restore is for.
 */
export function inverseOfCommit(
  commitChanges: ReadonlyArray<Pick<Change, 'op'> & Pick<EntryAddress, 'key' | 'label'>>,
  states: {
    /** The namespace just before the commit. */
    before: readonly EntryVersion[];
    /** The namespace just after the commit. */
    atCommit: readonly EntryVersion[];
    /** The namespace now. */
    current: readonly EntryVersion[];
  },
): CommitInverse {
  const live = (versions: readonly EntryVersion[]) =>
    new Map(versions.filter((v) => !v.deleted).map((v) => [addressId(v), v]));
  const before = live(states.before);
  const atCommit = live(states.atCommit);
  const current = live(states.current);
  const changes: Change[] = [];
  const conflicts: Conflict[] = [];
  for (const change of commitChanges) {
    const id = addressId(change);
    const old = before.get(id);
    const made = atCommit.get(id);
    const now = current.get(id);
    const address = { key: change.key, label: change.label };
    if ((made?.revision ?? null) !== (now?.revision ?? null)) {
      conflicts.push({
        ...address,
        expected: made ? `revision ${made.revision} (written by the commit)` : 'absent (deleted by the commit)',
        actualRevision: now?.revision ?? null,
      });
      continue;
    }
    const guard = now ? { ifRevision: now.revision } : { ifAbsent: true };
    if (change.op === 'lock') changes.push({ op: 'unlock', ...address, ...guard });
    else if (change.op === 'unlock') changes.push({ op: 'lock', ...address, ...guard });
    else if (old)
      changes.push({
        op: 'set',
        ...address,
        text: old.text,
        contentType: old.contentType,
        tags: old.tags,
        secret: old.secret,
        ...guard,
      });
    else if (now) changes.push({ op: 'delete', ...address, ...guard });
  }
  return { changes, conflicts };
}
