import type { StoreParts } from '../composed-store.js';
import { snapshotColumns, snapshotValues, toSnapshot, toVersion, type EntryRow, type SnapshotRow } from '../rows.js';
import { checkSnapshotEtag, snapshotExists, snapshotNotFound } from '../rules.js';
import type { PostgresContext } from './database.js';
import { lockNamespaces, requireNamespace } from './namespaces.js';

/** Snapshots in PostgreSQL: the record and its copied items, written together. */
export function postgresSnapshots(context: PostgresContext): StoreParts['snapshots'] {
  const { db } = context;
  return {
    async createSnapshot(record, items, audit) {
      return db.transaction(async (client) => {
        // The namespace lock orders this after a concurrent delete of the namespace, which removes snapshots too.
        await lockNamespaces(client, [record.namespace]);
        await requireNamespace(client, record.namespace);
        // An archived snapshot past its expiry is gone: its name may be used again (as `snapshotExpired` says).
        const expired = await client.query<{ name: string }>(
          `DELETE FROM snapshots WHERE namespace = $1 AND name = $2 AND status = 'archived' AND expires_at IS NOT NULL AND expires_at <= $3 RETURNING name`,
          [record.namespace, record.name, record.createdAt],
        );
        if (expired.rows.length > 0)
          await client.query('DELETE FROM snapshot_items WHERE namespace = $1 AND snapshot = $2', [
            record.namespace,
            record.name,
          ]);
        const inserted = await client.query(
          `INSERT INTO snapshots (${snapshotColumns})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (namespace, name) DO NOTHING`,
          snapshotValues(record),
        );
        if (inserted.rowCount === 0) throw snapshotExists(record.namespace, record.name);
        if (items.length > 0) {
          await client.query(
            `INSERT INTO snapshot_items (namespace, snapshot, key, label, revision, value, content_type, tags, locked, secret, author, created_at)
             SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bytea[], $7::text[], $8::text[], $9::boolean[], $10::boolean[], $11::text[], $12::bigint[])`,
            [
              record.namespace,
              record.name,
              items.map((v) => v.key),
              items.map((v) => v.label),
              items.map((v) => v.revision),
              items.map((v) => Buffer.from(v.text, 'utf8')),
              items.map((v) => v.contentType),
              items.map((v) => JSON.stringify(v.tags)),
              items.map((v) => v.locked),
              items.map((v) => v.secret),
              items.map((v) => v.author),
              items.map((v) => v.createdAt),
            ],
          );
        }
        await context.audit.appendIn(client, audit);
        return record;
      });
    },

    async getSnapshot(namespace, name) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<SnapshotRow>('SELECT * FROM snapshots WHERE namespace = $1 AND name = $2', [
          namespace,
          name,
        ]);
        return rows[0] && toSnapshot(rows[0]);
      });
    },

    async listSnapshots(query) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<SnapshotRow>(
          'SELECT * FROM snapshots WHERE namespace = $1 AND name > $2 ORDER BY name LIMIT $3',
          [query.namespace, query.after ?? '', query.limit],
        );
        return rows.map(toSnapshot);
      });
    },

    async updateSnapshot(namespace, name, patch, ifEtag, audit) {
      return db.transaction(async (client) => {
        const { rows } = await client.query<SnapshotRow>(
          'SELECT * FROM snapshots WHERE namespace = $1 AND name = $2 FOR UPDATE',
          [namespace, name],
        );
        const row = rows[0];
        if (!row) throw snapshotNotFound(namespace, name);
        checkSnapshotEtag(name, row.etag, ifEtag);
        await client.query(
          'UPDATE snapshots SET status = $1, expires_at = $2, etag = $3 WHERE namespace = $4 AND name = $5',
          [patch.status, patch.expiresAt, patch.etag, namespace, name],
        );
        await context.audit.appendIn(client, audit);
        return { ...toSnapshot(row), ...patch };
      });
    },

    async readSnapshotItems(query) {
      return db.read(async (pool) => {
        const params: unknown[] = [query.namespace, query.name];
        let where = 'namespace = $1 AND snapshot = $2';
        if (query.after) {
          params.push(query.after.key, query.after.label);
          where += ' AND (key > $3 OR (key = $3 AND label > $4))';
        }
        let limit = '';
        if (query.limit !== undefined) {
          params.push(Math.max(0, Math.floor(query.limit)));
          limit = ` LIMIT $${params.length}`;
        }
        const { rows } = await pool.query<Omit<EntryRow, 'deleted'>>(
          `SELECT namespace, key, label, revision, value, content_type, tags, locked, secret, author, created_at
           FROM snapshot_items WHERE ${where} ORDER BY key, label${limit}`,
          params,
        );
        return rows.map((row) => toVersion({ ...row, deleted: false }));
      });
    },
  };
}
