import type { StoreParts } from '../composed-store.js';
import { toRollout, type RolloutRow } from '../rows.js';
import { checkRolloutVersion, rolloutActive } from '../rules.js';
import type { RolloutRecord } from '../types.js';
import type { SqliteContext } from './database.js';

/** Rollouts in SQLite: the state machine's state, saved over the version its writer read. */
export function sqliteRollouts(context: SqliteContext): StoreParts['rollouts'] {
  const { db, clock } = context;
  return {
    async saveRollout(rollout, expectedVersion, audit) {
      return db.transaction(() => {
        const existing = db.prepare('SELECT version FROM rollouts WHERE id = ?').get(rollout.id) as
          { version: number } | undefined;
        checkRolloutVersion(rollout.id, existing?.version ?? 0, expectedVersion);
        if (rollout.active) {
          const other = db
            .prepare('SELECT id FROM rollouts WHERE namespace = ? AND active = 1 AND id <> ?')
            .get(rollout.namespace, rollout.id) as { id: string } | undefined;
          if (other) throw rolloutActive(other.id, rollout.namespace);
        }
        const record: RolloutRecord = { ...rollout, version: expectedVersion + 1, updatedAt: clock.now() };
        db.prepare(
          `INSERT INTO rollouts (id, namespace, active, state, version, updated_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET active = excluded.active, state = excluded.state, version = excluded.version, updated_at = excluded.updated_at`,
        ).run(
          record.id,
          record.namespace,
          +record.active,
          JSON.stringify(record.state),
          record.version,
          record.updatedAt,
        );
        if (audit) context.audit.appendIn(audit);
        return record;
      });
    },

    async getRollout(id) {
      db.assertOpen();
      const row = db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as RolloutRow | undefined;
      return row && toRollout(row);
    },

    async listActiveRollouts(namespace) {
      db.assertOpen();
      const rows = (
        namespace === undefined
          ? db.prepare('SELECT * FROM rollouts WHERE active = 1 ORDER BY namespace').all()
          : db.prepare('SELECT * FROM rollouts WHERE active = 1 AND namespace = ?').all(namespace)
      ) as RolloutRow[];
      return rows.map(toRollout);
    },

    async listRollouts(namespace, limit) {
      db.assertOpen();
      const rows = db
        .prepare('SELECT * FROM rollouts WHERE namespace = ? ORDER BY updated_at DESC, id LIMIT ?')
        .all(namespace, limit) as RolloutRow[];
      return rows.map(toRollout);
    },
  };
}
