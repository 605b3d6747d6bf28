import type { StoreParts } from '../composed-store.js';
import { toControlRecord, type ControlRow } from '../rows.js';
import { checkControlVersion } from '../rules.js';
import type { ControlRecord } from '../types.js';
import type { PostgresContext } from './database.js';

/** Change requests and schedules in PostgreSQL, each saved over the version its writer read. */
export function postgresControlRecords(context: PostgresContext): StoreParts['control'] {
  const { db } = context;
  return {
    async saveControlRecord(input, expectedVersion, audit) {
      return db.transaction(async (client) => {
        // FOR UPDATE: two nodes saving over the same version queue here, and the second sees the first's version.
        const existing = await client.query<{ version: string | number; created_at: string | number }>(
          'SELECT version, created_at FROM control_records WHERE kind = $1 AND id = $2 FOR UPDATE',
          [input.kind, input.id],
        );
        const row = existing.rows[0];
        checkControlVersion(input.id, Number(row?.version ?? 0), expectedVersion);
        const now = context.clock.now();
        const record: ControlRecord = {
          ...input,
          version: expectedVersion + 1,
          createdAt: row ? Number(row.created_at) : now,
          updatedAt: now,
        };
        await client.query(
          `INSERT INTO control_records (kind, id, namespace, state, due_at, body, version, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, due_at = excluded.due_at, body = excluded.body,
             version = excluded.version, updated_at = excluded.updated_at`,
          [
            record.kind,
            record.id,
            record.namespace,
            record.state,
            record.dueAt,
            JSON.stringify(record.body),
            record.version,
            record.createdAt,
            record.updatedAt,
          ],
        );
        await context.audit.appendIn(client, audit);
        return record;
      });
    },

    async getControlRecord(kind, id) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<ControlRow>('SELECT * FROM control_records WHERE kind = $1 AND id = $2', [
          kind,
          id,
        ]);
        return rows[0] && toControlRecord(rows[0]);
      });
    },

    async listControlRecords(query) {
      const where = ['kind = $1'];
      const params: Array<string | number | readonly string[]> = [query.kind];
      if (query.namespace !== undefined) {
        params.push(query.namespace);
        where.push(`namespace = $${params.length}`);
      }
      if (query.states !== undefined) {
        params.push(query.states);
        where.push(`state = ANY($${params.length}::text[])`);
      }
      if (query.dueBefore !== undefined) {
        params.push(query.dueBefore);
        where.push(`due_at <= $${params.length}`);
      }
      params.push(query.limit);
      const sql = `SELECT * FROM control_records WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id LIMIT $${params.length}`;
      return db.read(async (pool) => {
        const { rows } = await pool.query<ControlRow>(sql, params);
        return rows.map(toControlRecord);
      });
    },
  };
}
