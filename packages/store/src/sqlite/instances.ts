import type { StoreParts } from '../composed-store.js';
import {
  groupInstances,
  instanceSummary,
  relayReceiptOf,
  type InstanceJoinRow,
  type RelayReceiptRow,
} from '../instance-rows.js';
import { relayReceiptsKept } from '../types.js';
import type { SqliteDatabase } from './database.js';

/**
 * Instance reports in SQLite: per namespace, what each instance last said it applied and how it
 * is, owned by the reporter that first reported it there.
 */
export function sqliteInstances(db: SqliteDatabase): StoreParts['instances'] {
  return {
    async recordReports(reports) {
      if (reports.length === 0) return;
      db.transaction(() => {
        // Applied in order. The WHERE of each upsert keeps the newer of two reports, and a record
        // whose owner is another reporter as it is ('' is a record from before owners).
        const instance = db.prepare(
          `INSERT INTO instances (namespace, instance_id, reporter, attributes, health, health_detail, last_seen, hops)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (namespace, instance_id) DO UPDATE SET reporter = excluded.reporter, attributes = excluded.attributes,
             health = excluded.health, health_detail = excluded.health_detail, last_seen = excluded.last_seen, hops = excluded.hops
           WHERE excluded.last_seen >= instances.last_seen AND instances.reporter IN (excluded.reporter, '')`,
        );
        const view = db.prepare(
          `INSERT INTO instance_views (instance_id, namespace, labels, seq, digest, status, reason, updated_at, applied_at)
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
           WHERE EXISTS (SELECT 1 FROM instances WHERE namespace = ? AND instance_id = ? AND reporter = ?)
           ON CONFLICT (namespace, instance_id, labels) DO UPDATE SET seq = excluded.seq, digest = excluded.digest, status = excluded.status,
             reason = excluded.reason, updated_at = excluded.updated_at, applied_at = excluded.applied_at WHERE excluded.updated_at >= instance_views.updated_at`,
        );
        for (const report of reports) {
          for (const namespace of new Set(report.views.map((v) => v.namespace))) {
            instance.run(
              namespace,
              report.instanceId,
              report.reporter,
              JSON.stringify(report.attributes),
              report.health,
              report.healthDetail,
              report.at,
              JSON.stringify(report.hops ?? []),
            );
          }
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
              v.appliedAt ?? null,
              v.namespace,
              report.instanceId,
              report.reporter,
            );
          }
        }
      });
    },

    async listInstances(query) {
      db.assertOpen();
      // The page is chosen on instances first (their primary key keeps it a range scan), then joined.
      const rows = db
        .prepare(
          `SELECT i.instance_id, i.attributes, i.health, i.health_detail, i.last_seen, i.hops,
                  v.labels, v.seq, v.digest, v.status, v.reason, v.updated_at, v.applied_at
           FROM (SELECT * FROM instances WHERE namespace = ? AND last_seen >= ? AND instance_id > ?
                 ORDER BY instance_id LIMIT ?) i
           JOIN instance_views v ON v.namespace = i.namespace AND v.instance_id = i.instance_id
           ORDER BY i.instance_id, v.labels`,
        )
        .all(query.namespace, query.seenSince, query.after ?? '', query.limit ?? -1) as InstanceJoinRow[];
      return groupInstances(query.namespace, rows);
    },

    async summarizeInstances(query) {
      db.assertOpen();
      const health = db
        .prepare('SELECT health, count(*) AS n FROM instances WHERE namespace = ? AND last_seen >= ? GROUP BY health')
        .all(query.namespace, query.seenSince) as Array<{ health: string; n: number }>;
      const views = db
        .prepare(
          `SELECT v.seq, v.status, count(*) AS n
           FROM instances i JOIN instance_views v ON v.namespace = i.namespace AND v.instance_id = i.instance_id
           WHERE i.namespace = ? AND i.last_seen >= ? GROUP BY v.seq, v.status`,
        )
        .all(query.namespace, query.seenSince) as Array<{ seq: number; status: string; n: number }>;
      return instanceSummary(health, views);
    },

    async instanceOwners(instanceId) {
      db.assertOpen();
      return db
        .prepare('SELECT namespace, reporter FROM instances WHERE instance_id = ? ORDER BY namespace')
        .all(instanceId) as Array<{ namespace: string; reporter: string }>;
    },

    async countInstances(namespace) {
      db.assertOpen();
      const row = db.prepare('SELECT count(*) AS n FROM instances WHERE namespace = ?').get(namespace) as { n: number };
      return row.n;
    },

    async pruneInstances(seenBefore) {
      return db.transaction(() => {
        db.prepare(
          `DELETE FROM instance_views WHERE (namespace, instance_id) IN
             (SELECT namespace, instance_id FROM instances WHERE last_seen < ?)`,
        ).run(seenBefore);
        return db.prepare('DELETE FROM instances WHERE last_seen < ?').run(seenBefore).changes;
      });
    },

    async recordRelayReceipts(receipts) {
      if (receipts.length === 0) return;
      db.transaction(() => {
        // The earliest times win: a relay reports a receipt again after a restart.
        const upsert = db.prepare(
          `INSERT INTO relay_receipts (namespace, seq, relay, path, received_at, served_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (namespace, seq, relay) DO UPDATE SET path = excluded.path,
             received_at = min(relay_receipts.received_at, excluded.received_at),
             served_at = coalesce(min(relay_receipts.served_at, excluded.served_at), relay_receipts.served_at, excluded.served_at)`,
        );
        const prune = db.prepare('DELETE FROM relay_receipts WHERE namespace = ? AND relay = ? AND seq <= ?');
        for (const r of receipts) {
          upsert.run(r.namespace, r.seq, r.relay, JSON.stringify(r.path), r.receivedAt, r.servedAt);
          prune.run(r.namespace, r.relay, r.seq - relayReceiptsKept);
        }
      });
    },

    async listRelayReceipts(namespace, seq) {
      db.assertOpen();
      const rows = db
        .prepare('SELECT * FROM relay_receipts WHERE namespace = ? AND seq = ? ORDER BY relay')
        .all(namespace, seq) as RelayReceiptRow[];
      return rows.map(relayReceiptOf);
    },

    async removeInstances(namespace, instanceIds, reporter) {
      if (instanceIds.length === 0) return 0;
      return db.transaction(() => {
        const view = db.prepare(
          `DELETE FROM instance_views WHERE namespace = ? AND instance_id = ?
             AND EXISTS (SELECT 1 FROM instances WHERE namespace = ? AND instance_id = ? AND reporter = ?)`,
        );
        const instance = db.prepare('DELETE FROM instances WHERE namespace = ? AND instance_id = ? AND reporter = ?');
        let removed = 0;
        for (const id of new Set(instanceIds)) {
          view.run(namespace, id, namespace, id, reporter);
          removed += instance.run(namespace, id, reporter).changes;
        }
        return removed;
      });
    },
  };
}
