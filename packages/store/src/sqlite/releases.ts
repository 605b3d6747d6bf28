import type { StoreParts } from '../composed-store.js';
import { toRelease, type ReleaseRow } from '../rows.js';
import type { ReleaseKind, ReleaseRecord } from '../types.js';
import type { SqliteContext, SqliteDatabase } from './database.js';
import { checkAsOfNow } from './entry-reads.js';
import type { SqliteGroupCommit } from './group-commit.js';
import { requireNamespace } from './namespaces.js';

/** Releases in SQLite: a namespace frozen at a revision, numbered per namespace. */
export function sqliteReleases(context: SqliteContext, commits: SqliteGroupCommit): StoreParts['releases'] {
  const { db } = context;
  return {
    async createRelease(input, audit) {
      await commits.acceptedSoFar();
      return db.transaction(() => {
        const namespace = requireNamespace(db, input.namespace);
        const revision = input.revision ?? namespace.revision;
        if (input.revision !== undefined) checkAsOfNow(db, revision);
        const release = insertRelease(context, { ...input, revision });
        context.audit.appendIn({ ...audit, details: { ...audit.details, seq: release.seq, revision } });
        return release;
      });
    },

    async getRelease(namespace, seq) {
      db.assertOpen();
      const row = (
        seq === undefined
          ? db.prepare('SELECT * FROM releases WHERE namespace = ? ORDER BY seq DESC LIMIT 1').get(namespace)
          : db.prepare('SELECT * FROM releases WHERE namespace = ? AND seq = ?').get(namespace, seq)
      ) as ReleaseRow | undefined;
      return row && toRelease(row);
    },

    async listReleases(query) {
      db.assertOpen();
      const rows = db
        .prepare('SELECT * FROM releases WHERE namespace = ? AND seq < ? ORDER BY seq DESC LIMIT ?')
        .all(query.namespace, query.beforeSeq ?? Number.MAX_SAFE_INTEGER, query.limit) as ReleaseRow[];
      return rows.map(toRelease);
    },
  };
}

/** The namespace's newest release's number (0 before its first), inside the caller's transaction. */
export function lastReleaseSeq(db: SqliteDatabase, namespace: string): number {
  const last = db.prepare('SELECT max(seq) AS seq FROM releases WHERE namespace = ?').get(namespace) as {
    seq: number | null;
  };
  return last.seq ?? 0;
}

/**
 * Inserts the namespace's next release inside the caller's transaction (a release or a commit that
 * makes one). `lastSeq`: the namespace's newest release's number, when the caller knows it in this
 * transaction (the group commit carries it from one commit of a batch to the next).
 */
export function insertRelease(
  { db, clock }: SqliteContext,
  input: { namespace: string; revision: number; kind: ReleaseKind; author: string; note: string },
  lastSeq = lastReleaseSeq(db, input.namespace),
): ReleaseRecord {
  const release: ReleaseRecord = { ...input, seq: lastSeq + 1, createdAt: clock.now() };
  db.prepare(
    'INSERT INTO releases (namespace, seq, revision, kind, author, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  ).run(
    release.namespace,
    release.seq,
    release.revision,
    release.kind,
    release.author,
    release.note,
    release.createdAt,
  );
  return release;
}
