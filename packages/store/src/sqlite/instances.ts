import type { StoreParts } from '../composed-store.js';
import { groupInstances, type InstanceJoinRow } from '../instance-rows.js';
import type { SqliteDatabase } from './database.js';

/** Instance reports in SQLite: what each instance last said it applied, per view. */
export function sqliteInstances(db: SqliteDatabase): StoreParts['instances'] {
  return {
    async recordReports(reports) {
      if (reports.length === 0) return;
      db.transaction(() => {
        // Applied in order; the WHERE of each upsert keeps the newer of two reports of an instance or view.
        const instance = db.prepare(
          `INSERT INTO instances (instance_id, attributes, health, health_detail, last_seen) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (instance_id) DO UPDATE SET attributes = excluded.attributes, health = excluded.health,
             health_detail = excluded.health_detail, last_seen = excluded.last_seen WHERE excluded.last_seen >= instances.last_seen`,
        );
        const view = db.prepare(
          `INSERT INTO instance_views (instance_id, namespace, labels, seq, digest, status, reason, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (namespace, instance_id, labels) DO UPDATE SET seq = excluded.seq, digest = excluded.digest, status = excluded.status,
             reason = excluded.reason, updated_at = excluded.updated_at WHERE excluded.updated_at >= instance_views.updated_at`,
        );
        for (const report of reports) {
          instance.run(
            report.instanceId,
            JSON.stringify(report.attributes),
            report.health,
            report.healthDetail,
            report.at,
          );
          for (const v of report.views) {
            view.run(
              report.instanceId,
              v.namespace,
              JSON.stringify(v.labels),
              v.seq,
              v.digest,
              v.status,
              v.reason,
              report.at,
            );
          }
        }
      });
    },

    async listInstances(query) {
      db.assertOpen();
      const rows = db
        .prepare(
          `SELECT i.instance_id, i.attributes, i.health, i.health_detail, i.last_seen,
                  v.labels, v.seq, v.digest, v.status, v.reason, v.updated_at
           FROM instance_views v JOIN instances i ON i.instance_id = v.instance_id
           WHERE v.namespace = ? AND i.last_seen >= ? ORDER BY i.instance_id, v.labels`,
        )
        .all(query.namespace, query.seenSince) as InstanceJoinRow[];
      return groupInstances(query.namespace, rows);
    },
  };
}
