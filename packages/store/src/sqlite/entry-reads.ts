import type { StoreParts } from '../composed-store.js';
import { toCommit, toVersion, type CommitRow, type EntryRow } from '../rows.js';
import { checkAsOf } from '../rules.js';
import type { SqliteContext, SqliteDatabase } from './database.js';

/** Reads of the revisions, entries, their history and commits in SQLite, now or as of a past revision. */
export function sqliteEntryReads({ db, memory }: SqliteContext): StoreParts['reads'] {
  return {
    async currentRevision() {
      return memory.revision(() => db.meta('revision'));
    },

    async compactedRevision() {
      return db.meta('compacted_revision');
    },

    async readEntries(query) {
      db.assertOpen();
      const where = ['namespace = @namespace', 'deleted = 0'];
      const params: Record<string, unknown> = { namespace: query.namespace };
      if (query.asOf === undefined) {
        where.push('superseded_at IS NULL');
      } else {
        checkAsOfNow(db, query.asOf);
        where.push('revision <= @asOf', '(superseded_at IS NULL OR superseded_at > @asOf)');
        params.asOf = query.asOf;
      }
      if (query.key !== undefined) {
        where.push('key = @key');
        params.key = query.key;
      }
      if (query.keyPrefix) {
        where.push('key >= @prefix', 'substr(key, 1, @prefixLength) = @prefix');
        params.prefix = query.keyPrefix;
        // SQLite's substr counts characters (code points), not UTF-16 units: '😀'.length is 2.
        params.prefixLength = [...query.keyPrefix].length;
      }
      if (query.labels) {
        if (query.labels.length === 0) return [];
        where.push(`label IN (${query.labels.map((_, i) => `@label${i}`).join(', ')})`);
        query.labels.forEach((label, i) => (params[`label${i}`] = label));
      }
      if (query.after) {
        where.push('(key > @afterKey OR (key = @afterKey AND label > @afterLabel))');
        params.afterKey = query.after.key;
        params.afterLabel = query.after.label;
      }
      const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
      const rows = db
        .prepare(`SELECT * FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY key, label${limit}`)
        .all(params) as EntryRow[];
      return rows.map(toVersion);
    },

    async entryHistory(query) {
      db.assertOpen();
      const where = ['namespace = @namespace'];
      const params: Record<string, unknown> = { namespace: query.namespace, limit: query.limit };
      if (query.key !== undefined) {
        where.push('key = @key');
        params.key = query.key;
      }
      if (query.label !== undefined) {
        where.push('label = @label');
        params.label = query.label;
      }
      if (query.beforeRevision !== undefined) {
        where.push('revision < @before');
        params.before = query.beforeRevision;
      }
      if (query.sinceRevision !== undefined) {
        where.push('revision >= @since');
        params.since = query.sinceRevision;
      }
      const rows = db
        .prepare(
          `SELECT * FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY revision ${query.order === 'oldest' ? 'ASC' : 'DESC'}, key, label LIMIT @limit`,
        )
        .all(params) as EntryRow[];
      return rows.map(toVersion);
    },

    async listCommits(query) {
      db.assertOpen();
      const newest = query.order === 'newest';
      const after =
        query.afterRevision === undefined ? '' : newest ? ' AND revision < @after' : ' AND revision > @after';
      const rows = db
        .prepare(
          `SELECT * FROM commits WHERE namespace = @namespace${after} ORDER BY revision ${newest ? 'DESC' : 'ASC'} LIMIT @limit`,
        )
        .all({ namespace: query.namespace, after: query.afterRevision, limit: query.limit }) as CommitRow[];
      return rows.map(toCommit);
    },

    async namespaceRevisionAt(namespace, at) {
      db.assertOpen();
      const row = db
        .prepare('SELECT max(revision) AS revision FROM commits WHERE namespace = ? AND created_at <= ?')
        .get(namespace, at) as { revision: number | null };
      return row.revision ?? 0;
    },
  };
}

/** Checks that the store's current state can answer a read as of `asOf`. */
export function checkAsOfNow(db: SqliteDatabase, asOf: number): void {
  checkAsOf(asOf, db.meta('revision'), db.meta('compacted_revision'));
}
