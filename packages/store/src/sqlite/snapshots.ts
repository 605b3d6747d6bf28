import type { StoreParts } from '../composed-store.js';
import { snapshotColumns, snapshotValues, toSnapshot, toVersion, type EntryRow, type SnapshotRow } from '../rows.js';
import { checkSnapshotEtag, snapshotExists, snapshotExpired, snapshotNotFound } from '../rules.js';
import type { SqliteContext } from './database.js';
import { requireNamespace } from './namespaces.js';

/** Snapshots in SQLite: the record and its copied items, written together. */
export function sqliteSnapshots(context: SqliteContext): StoreParts['snapshots'] {
  const { db } = context;
  return {
    async createSnapshot(record, items, audit) {
      return db.transaction(() => {
        requireNamespace(db, record.namespace);
        const existing = db
          .prepare('SELECT * FROM snapshots WHERE namespace = ? AND name = ?')
          .get(record.namespace, record.name) as SnapshotRow | undefined;
        if (existing) {
          if (!snapshotExpired(toSnapshot(existing), record.createdAt))
            throw snapshotExists(record.namespace, record.name);
          db.prepare('DELETE FROM snapshot_items WHERE namespace = ? AND snapshot = ?').run(
            record.namespace,
            record.name,
          );
          db.prepare('DELETE FROM snapshots WHERE namespace = ? AND name = ?').run(record.namespace, record.name);
        }
        db.prepare(`INSERT INTO snapshots (${snapshotColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
          ...snapshotValues(record),
        );
        const insert = db.prepare(
          `INSERT INTO snapshot_items (namespace, snapshot, key, label, revision, text, content_type, tags, locked, secret, author, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const v of items) {
          insert.run(
            record.namespace,
            record.name,
            v.key,
            v.label,
            v.revision,
            v.text,
            v.contentType,
            JSON.stringify(v.tags),
            +v.locked,
            +v.secret,
            v.author,
            v.createdAt,
          );
        }
        context.audit.appendIn(audit);
        return record;
      });
    },

    async getSnapshot(namespace, name) {
      db.assertOpen();
      const row = db.prepare('SELECT * FROM snapshots WHERE namespace = ? AND name = ?').get(namespace, name) as
        SnapshotRow | undefined;
      return row && toSnapshot(row);
    },

    async listSnapshots(query) {
      db.assertOpen();
      const rows = db
        .prepare('SELECT * FROM snapshots WHERE namespace = ? AND name > ? ORDER BY name LIMIT ?')
        .all(query.namespace, query.after ?? '', query.limit) as SnapshotRow[];
      return rows.map(toSnapshot);
    },

    async updateSnapshot(namespace, name, patch, ifEtag, audit) {
      return db.transaction(() => {
        const row = db.prepare('SELECT * FROM snapshots WHERE namespace = ? AND name = ?').get(namespace, name) as
          SnapshotRow | undefined;
        if (!row) throw snapshotNotFound(namespace, name);
        checkSnapshotEtag(name, row.etag, ifEtag);
        db.prepare('UPDATE snapshots SET status = ?, expires_at = ?, etag = ? WHERE namespace = ? AND name = ?').run(
          patch.status,
          patch.expiresAt,
          patch.etag,
          namespace,
          name,
        );
        context.audit.appendIn(audit);
        return { ...toSnapshot(row), ...patch };
      });
    },

    async readSnapshotItems(query) {
      db.assertOpen();
      const after = query.after ? ' AND (key > @afterKey OR (key = @afterKey AND label > @afterLabel))' : '';
      const limit = query.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(query.limit))}`;
      const rows = db
        .prepare(
          `SELECT * FROM snapshot_items WHERE namespace = @namespace AND snapshot = @name${after} ORDER BY key, label${limit}`,
        )
        .all({
          namespace: query.namespace,
          name: query.name,
          ...(query.after ? { afterKey: query.after.key, afterLabel: query.after.label } : {}),
        }) as Array<Omit<EntryRow, 'deleted'> & { snapshot: string }>;
      return rows.map((row) => toVersion({ ...row, deleted: 0 }));
    },
  };
}
