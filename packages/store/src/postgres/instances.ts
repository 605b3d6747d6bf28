import type { StoreParts } from '../composed-store.js';
import { groupInstances, type InstanceJoinRow } from '../instance-rows.js';
import type { InstanceReport } from '../types.js';
import type { PostgresDatabase } from './database.js';

/** Instance reports in PostgreSQL: what each instance last said it applied, per view. */
export function postgresInstances(db: PostgresDatabase): StoreParts['instances'] {
  return {
    async recordReports(reports) {
      if (reports.length === 0) return;
      // The newest report of each instance and view wins; one statement per table for the whole batch.
      const latest = new Map<string, InstanceReport>();
      for (const r of reports) if ((latest.get(r.instanceId)?.at ?? -1) <= r.at) latest.set(r.instanceId, r);
      const instances = [...latest.values()];
      const views = new Map<string, [InstanceReport, InstanceReport['views'][number]]>();
      for (const r of reports)
        for (const v of r.views) views.set(JSON.stringify([r.instanceId, v.namespace, v.labels]), [r, v]);
      const viewRows = [...views.values()];
      await db.transaction(async (client) => {
        await client.query(
          `INSERT INTO instances (instance_id, attributes, health, health_detail, last_seen)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
           ON CONFLICT (instance_id) DO UPDATE SET attributes = excluded.attributes, health = excluded.health,
             health_detail = excluded.health_detail, last_seen = excluded.last_seen WHERE excluded.last_seen >= instances.last_seen`,
          [
            instances.map((r) => r.instanceId),
            instances.map((r) => JSON.stringify(r.attributes)),
            instances.map((r) => r.health),
            instances.map((r) => r.healthDetail),
            instances.map((r) => r.at),
          ],
        );
        if (viewRows.length === 0) return;
        await client.query(
          `INSERT INTO instance_views (instance_id, namespace, labels, seq, digest, status, reason, updated_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[])
           ON CONFLICT (namespace, instance_id, labels) DO UPDATE SET seq = excluded.seq, digest = excluded.digest,
             status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at
             WHERE excluded.updated_at >= instance_views.updated_at`,
          [
            viewRows.map(([r]) => r.instanceId),
            viewRows.map(([, v]) => v.namespace),
            viewRows.map(([, v]) => JSON.stringify(v.labels)),
            viewRows.map(([, v]) => v.seq),
            viewRows.map(([, v]) => v.digest),
            viewRows.map(([, v]) => v.status),
            viewRows.map(([, v]) => v.reason),
            viewRows.map(([r]) => r.at),
          ],
        );
      });
    },

    async listInstances(query) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<InstanceJoinRow>(
          `SELECT i.instance_id, i.attributes, i.health, i.health_detail, i.last_seen,
                  v.labels, v.seq, v.digest, v.status, v.reason, v.updated_at
           FROM instance_views v JOIN instances i ON i.instance_id = v.instance_id
           WHERE v.namespace = $1 AND i.last_seen >= $2 ORDER BY i.instance_id, v.labels`,
          [query.namespace, query.seenSince],
        );
        return groupInstances(query.namespace, rows);
      });
    },
  };
}
