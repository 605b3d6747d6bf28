import type { StoreParts } from '../composed-store.js';
import { toControlRecord, type ControlRow } from '../rows.js';
import { checkControlVersion } from '../rules.js';
import type { ControlRecord } from '../types.js';
import type { SqliteContext } from './database.js';

/** Change requests and schedules in SQLite, each saved over the version its writer read. */
export function sqliteControlRecords(context: SqliteContext): StoreParts['control'] {
  const { db, clock } = context;
  return {
    async saveControlRecord(input, expectedVersion, audit) {
      return db.transaction(() => {
        const existing = db
          .prepare('SELECT version, created_at FROM control_records WHERE kind = ? AND id = ?')
          .get(input.kind, input.id) as { version: number; created_at: number } | undefined;
        checkControlVersion(input.id, existing?.version ?? 0, expectedVersion);
        const now = clock.now();
        const record: ControlRecord = {
          ...input,
          version: expectedVersion + 1,
          createdAt: existing?.created_at ?? now,
          updatedAt: now,
        };
        db.prepare(
          `INSERT INTO control_records (kind, id, namespace, state, due_at, body, version, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, due_at = excluded.due_at, body = excluded.body,
             version = excluded.version, updated_at = excluded.updated_at`,
        ).run(
          record.kind,
          record.id,
          record.namespace,
          record.state,
          record.dueAt,
          JSON.stringify(record.body),
          record.version,
          record.createdAt,
          record.updatedAt,
        );
        context.audit.appendIn(audit);
        return record;
      });
    },

    async getControlRecord(kind, id) {
      db.assertOpen();
      const row = db.prepare('SELECT * FROM control_records WHERE kind = ? AND id = ?').get(kind, id) as
        ControlRow | undefined;
      return row && toControlRecord(row);
    },

    async listControlRecords(query) {
      db.assertOpen();
      const where = ['kind = ?'];
      const params: Array<string | number> = [query.kind];
      if (query.namespace !== undefined) {
        where.push('namespace = ?');
        params.push(query.namespace);
      }
      if (query.states !== undefined) {
        where.push(`state IN (${query.states.map(() => '?').join(', ') || 'NULL'})`);
        params.push(...query.states);
      }
      if (query.dueBefore !== undefined) {
        where.push('due_at <= ?');
        params.push(query.dueBefore);
      }
      const rows = db
        .prepare(`SELECT * FROM control_records WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id LIMIT ?`)
        .all(...params, query.limit) as ControlRow[];
      return rows.map(toControlRecord);
    },
  };
}
