import type { StoreParts } from '../composed-store.js';
import { toCommit, toVersion, type CommitRow, type EntryRow } from '../rows.js';
import { checkAsOf, checkRevisionNumber } from '../rules.js';
import { meta, type PostgresDatabase } from './database.js';

/** The columns of `entry_versions` that make an EntryVersion (not `superseded_at`). */
export const entryColumns =
  'namespace, key, label, revision, value, content_type, tags, locked, secret, deleted, author, created_at';

/** Reads of the revisions, entries, their history and commits in PostgreSQL, now or as of a past revision. */
export function postgresEntryReads(db: PostgresDatabase): StoreParts['reads'] {
  return {
    async currentRevision() {
      return db.read(async (pool) => meta(pool, 'revision'));
    },

    async compactedRevision() {
      return db.read(async (pool) => meta(pool, 'compacted_revision'));
    },

    async readEntries(query) {
      return db.read(async (pool) => {
        const params: unknown[] = [query.namespace];
        const param = (value: unknown): string => {
          params.push(value);
          return `$${params.length}`;
        };
        const where = ['namespace = $1', 'NOT deleted'];
        if (query.asOf === undefined) {
          where.push('superseded_at IS NULL');
        } else {
          checkRevisionNumber(query.asOf);
          const asOf = param(query.asOf);
          where.push(`revision <= ${asOf}`, `(superseded_at IS NULL OR superseded_at > ${asOf})`);
        }
        if (query.key !== undefined) where.push(`key = ${param(query.key)}`);
        if (query.keyPrefix) {
          const prefix = param(query.keyPrefix);
          where.push(`key >= ${prefix}`, `starts_with(key, ${prefix})`);
        }
        // An empty label list matches nothing (ANY of an empty array), after the as-of checks as in SQLite.
        if (query.labels) where.push(`label = ANY(${param(query.labels)}::text[])`);
        if (query.after) {
          const key = param(query.after.key);
          where.push(`(key > ${key} OR (key = ${key} AND label > ${param(query.after.label)}))`);
        }
        const limit = query.limit === undefined ? 'ALL' : param(Math.max(0, Math.floor(query.limit)));
        const select = `SELECT ${entryColumns} FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY key, label LIMIT ${limit}`;
        if (query.asOf === undefined) {
          const { rows } = await pool.query<EntryRow>(select, params);
          return rows.map(toVersion);
        }
        // As-of reads check the compaction horizon in the same statement (one snapshot) as they read,
        // so a compaction committed in between cannot make them return a half-removed past.
        const { rows } = await pool.query<EntryRow & { current_revision: number; compacted_revision: number }>(
          `SELECT m.current_revision, m.compacted_revision, e.*
           FROM (SELECT max(value) FILTER (WHERE name = 'revision') AS current_revision,
                        max(value) FILTER (WHERE name = 'compacted_revision') AS compacted_revision FROM meta) m
           LEFT JOIN LATERAL (${select}) e ON true
           ORDER BY e.key, e.label`,
          params,
        );
        const head = rows[0] as { current_revision: number; compacted_revision: number };
        checkAsOf(query.asOf, head.current_revision, head.compacted_revision);
        return rows.filter((row) => row.key !== null).map(toVersion);
      });
    },

    async entryHistory(query) {
      return db.read(async (pool) => {
        const params: unknown[] = [query.namespace, query.limit];
        const where = ['namespace = $1'];
        const add = (sql: string, value: unknown): void => {
          params.push(value);
          where.push(sql.replace('?', `$${params.length}`));
        };
        if (query.key !== undefined) add('key = ?', query.key);
        if (query.label !== undefined) add('label = ?', query.label);
        if (query.beforeRevision !== undefined) add('revision < ?', query.beforeRevision);
        if (query.sinceRevision !== undefined) add('revision >= ?', query.sinceRevision);
        const { rows } = await pool.query<EntryRow>(
          `SELECT ${entryColumns} FROM entry_versions WHERE ${where.join(' AND ')} ORDER BY revision ${query.order === 'oldest' ? 'ASC' : 'DESC'}, key, label LIMIT $2`,
          params,
        );
        return rows.map(toVersion);
      });
    },

    async listCommits(query) {
      return db.read(async (pool) => {
        const newest = query.order === 'newest';
        const params: unknown[] = [query.namespace, query.limit];
        let after = '';
        if (query.afterRevision !== undefined) {
          params.push(query.afterRevision);
          after = newest ? ' AND revision < $3' : ' AND revision > $3';
        }
        const { rows } = await pool.query<CommitRow>(
          `SELECT * FROM commits WHERE namespace = $1${after} ORDER BY revision ${newest ? 'DESC' : 'ASC'} LIMIT $2`,
          params,
        );
        return rows.map(toCommit);
      });
    },

    async namespaceRevisionAt(namespace, at) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<{ revision: number | null }>(
          'SELECT max(revision) AS revision FROM commits WHERE namespace = $1 AND created_at <= $2',
          [namespace, at],
        );
        return rows[0]?.revision ?? 0;
      });
    },
  };
}
