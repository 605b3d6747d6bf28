import type { StoreParts } from '../composed-store.js';
import { checkCompaction } from '../rules.js';
import type { SqliteContext } from './database.js';
import type { SqliteGroupCommit } from './group-commit.js';

/** Compaction in SQLite: dropping the versions no read at or after a revision can see. */
export function sqliteCompaction(context: SqliteContext, commits: SqliteGroupCommit): StoreParts['compaction'] {
  const { db } = context;
  return {
    async compact(revision, audit) {
      await commits.acceptedSoFar();
      return db.transaction(() => {
        const pinned = db
          .prepare(
            'SELECT namespace, max(seq) AS seq, revision FROM releases GROUP BY namespace ORDER BY revision LIMIT 1',
          )
          .get() as { namespace: string; revision: number } | undefined;
        checkCompaction(revision, db.meta('revision'), pinned);
        const already = db.meta('compacted_revision');
        if (revision <= already) return { revision: already, removedVersions: 0 };
        // Superseded versions no read at or after `revision` can see, and tombstones that are already the past.
        const superseded = db.prepare('DELETE FROM entry_versions WHERE superseded_at <= ?').run(revision);
        const tombstones = db
          .prepare('DELETE FROM entry_versions WHERE superseded_at IS NULL AND deleted = 1 AND revision <= ?')
          .run(revision);
        db.prepare("UPDATE meta SET value = ? WHERE name = 'compacted_revision'").run(revision);
        const result = { revision, removedVersions: superseded.changes + tombstones.changes };
        context.audit.appendIn({ ...audit, details: { ...audit.details, ...result } });
        return result;
      });
    },
  };
}
