import type { StoreParts } from '../composed-store.js';
import { toRelease, type ReleaseRow } from '../rows.js';
import { checkAsOf } from '../rules.js';
import { meta, type PostgresContext } from './database.js';
import type { PostgresGroupCommit } from './group-commit.js';
import { lockNamespaces, requireNamespace } from './namespaces.js';

/**
 * Releases in PostgreSQL: a namespace frozen at a revision, numbered per namespace under its lock.
 * (The release a commit makes for the `immediate` policy is written by its round, `commit-round.ts`.)
 */
export function postgresReleases(context: PostgresContext, commits: PostgresGroupCommit): StoreParts['releases'] {
  const { db } = context;
  return {
    async createRelease(input, audit) {
      await commits.acceptedSoFar();
      return db.transaction(async (client) => {
        await lockNamespaces(client, [input.namespace]);
        const namespace = await requireNamespace(client, input.namespace);
        const revision = input.revision ?? namespace.revision;
        // The compaction horizon is read FOR SHARE (compact() holds it FOR UPDATE), so no compaction
        // can pass this release's revision between this check and COMMIT, nor miss the new release
        // when it checks which revisions releases still pin.
        const horizon = await client.query<{ value: number }>(
          "SELECT value FROM meta WHERE name = 'compacted_revision' FOR SHARE",
        );
        if (input.revision !== undefined) {
          checkAsOf(revision, await meta(client, 'revision'), (horizon.rows[0] as { value: number }).value);
        }
        const { rows } = await client.query<ReleaseRow>(
          `INSERT INTO releases (namespace, seq, revision, kind, author, note, created_at)
           SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4, $5, $6 FROM releases WHERE namespace = $1
           RETURNING *`,
          [input.namespace, revision, input.kind, input.author, input.note, context.clock.now()],
        );
        const release = toRelease(rows[0] as ReleaseRow);
        await context.audit.appendIn(client, {
          ...audit,
          details: { ...audit.details, seq: release.seq, revision },
        });
        return release;
      });
    },

    async getRelease(namespace, seq) {
      return db.read(async (pool) => {
        const { rows } =
          seq === undefined
            ? await pool.query<ReleaseRow>('SELECT * FROM releases WHERE namespace = $1 ORDER BY seq DESC LIMIT 1', [
                namespace,
              ])
            : await pool.query<ReleaseRow>('SELECT * FROM releases WHERE namespace = $1 AND seq = $2', [
                namespace,
                seq,
              ]);
        return rows[0] && toRelease(rows[0]);
      });
    },

    async listReleases(query) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<ReleaseRow>(
          'SELECT * FROM releases WHERE namespace = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3',
          [query.namespace, query.beforeSeq ?? Number.MAX_SAFE_INTEGER, query.limit],
        );
        return rows.map(toRelease);
      });
    },
  };
}
