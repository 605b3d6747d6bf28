import type { StoreParts } from '../composed-store.js';
import { checkCompaction } from '../rules.js';
import { meta, type PostgresContext } from './database.js';
import type { PostgresGroupCommit } from './group-commit.js';

/** Compaction in PostgreSQL: dropping the versions no read at or after a revision can see. */
export function postgresCompaction(context: PostgresContext, commits: PostgresGroupCommit): StoreParts['compaction'] {
  const { db } = context;
  return {
    async compact(revision, audit) {
      await commits.acceptedSoFar();
      return db.transaction(async (client) => {
        // Serialises compactions (not commits: they never lock this row).
        const already = await meta(client, 'compacted_revision', true);
        const current = await meta(client, 'revision');
        const pinned = await client.query<{ namespace: string; revision: number }>(
          `SELECT r.namespace, r.revision FROM releases r
           JOIN (SELECT namespace, max(seq) AS seq FROM releases GROUP BY namespace) newest USING (namespace, seq)
           ORDER BY r.revision LIMIT 1`,
        );
        checkCompaction(revision, current, pinned.rows[0]);
        if (revision <= already) return { revision: already, removedVersions: 0 };
        // Superseded versions no read at or after `revision` can see, and tombstones that are already
        // the past. SKIP LOCKED: a row a concurrent commit is superseding (a tombstone) or a forced
        // namespace delete is removing is left alone rather than waited for — either way it is not
        // needed by any read at or after `revision`, and a later compaction takes what is left.
        const { rows } = await client.query<{ removed: number }>(
          `WITH doomed AS (
             SELECT namespace, key, label, revision FROM entry_versions
             WHERE superseded_at <= $1 OR (superseded_at IS NULL AND deleted AND revision <= $1)
             FOR UPDATE SKIP LOCKED
           ), removed AS (
             DELETE FROM entry_versions e USING doomed d
             WHERE e.namespace = d.namespace AND e.key = d.key AND e.label = d.label AND e.revision = d.revision
             RETURNING 1
           )
           SELECT count(*)::integer AS removed FROM removed`,
          [revision],
        );
        await client.query("UPDATE meta SET value = $1 WHERE name = 'compacted_revision'", [revision]);
        const result = { revision, removedVersions: rows[0]?.removed ?? 0 };
        await context.audit.appendIn(client, { ...audit, details: { ...audit.details, ...result } });
        return result;
      });
    },
  };
}
