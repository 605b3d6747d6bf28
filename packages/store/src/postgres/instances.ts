import type { StoreParts } from '../composed-store.js';
import { instanceBatch } from '../instance-batch.js';
import {
  groupInstances,
  instanceSummary,
  relayReceiptOf,
  type InstanceJoinRow,
  type RelayReceiptRow,
} from '../instance-rows.js';
import { relayReceiptsKept } from '../types.js';
import type { PostgresDatabase } from './database.js';

/**
 * Instance reports in PostgreSQL: per namespace, what each instance last said it applied and how
 * it is, owned by the reporter that first reported it there.
 */
export function postgresInstances(db: PostgresDatabase): StoreParts['instances'] {
  return {
    async recordReports(reports) {
      if (reports.length === 0) return;
      // One statement per table for the whole batch, so each row at most once (instanceBatch).
      const { records, views } = instanceBatch(reports);
      if (records.length === 0) return;
      await db.transaction(async (client) => {
        // The WHERE keeps the newer of two reports, and a record whose owner is another reporter as
        // it is ('' is a record from before owners).
        await client.query(
          `INSERT INTO instances (namespace, instance_id, reporter, attributes, health, health_detail, last_seen, hops)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
           ON CONFLICT (namespace, instance_id) DO UPDATE SET reporter = excluded.reporter, attributes = excluded.attributes,
             health = excluded.health, health_detail = excluded.health_detail, last_seen = excluded.last_seen, hops = excluded.hops
           WHERE excluded.last_seen >= instances.last_seen AND instances.reporter IN (excluded.reporter, '')`,
          [
            records.map((r) => r.namespace),
            records.map((r) => r.instanceId),
            records.map((r) => r.reporter),
            records.map((r) => JSON.stringify(r.attributes)),
            records.map((r) => r.health),
            records.map((r) => r.healthDetail),
            records.map((r) => r.at),
            records.map((r) => JSON.stringify(r.hops)),
          ],
        );
        if (views.length === 0) return;
        await client.query(
          `INSERT INTO instance_views (instance_id, namespace, labels, seq, digest, status, reason, updated_at, applied_at)
           SELECT u.instance_id, u.namespace, u.labels, u.seq, u.digest, u.status, u.reason, u.updated_at, u.applied_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::bigint[])
             AS u (instance_id, namespace, labels, seq, digest, status, reason, updated_at, reporter, applied_at)
           WHERE EXISTS (SELECT 1 FROM instances i
                         WHERE i.namespace = u.namespace AND i.instance_id = u.instance_id AND i.reporter = u.reporter)
           ON CONFLICT (namespace, instance_id, labels) DO UPDATE SET seq = excluded.seq, digest = excluded.digest,
             status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at, applied_at = excluded.applied_at
             WHERE excluded.updated_at >= instance_views.updated_at`,
          [
            views.map(({ record }) => record.instanceId),
            views.map(({ view }) => view.namespace),
            views.map(({ view }) => JSON.stringify(view.labels)),
            views.map(({ view }) => view.seq),
            views.map(({ view }) => view.digest),
            views.map(({ view }) => view.status),
            views.map(({ view }) => view.reason),
            views.map(({ record }) => record.at),
            views.map(({ record }) => record.reporter),
            views.map(({ view }) => view.appliedAt ?? null),
          ],
        );
      });
    },

    async listInstances(query) {
      return db.read(async (pool) => {
        // The page is chosen on instances first (their primary key keeps it a range scan), then joined.
        const { rows } = await pool.query<InstanceJoinRow>(
          `SELECT i.instance_id, i.attributes, i.health, i.health_detail, i.last_seen, i.hops,
                  v.labels, v.seq, v.digest, v.status, v.reason, v.updated_at, v.applied_at
           FROM (SELECT * FROM instances WHERE namespace = $1 AND last_seen >= $2 AND instance_id > $3
                 ORDER BY instance_id LIMIT $4) i
           JOIN instance_views v ON v.namespace = i.namespace AND v.instance_id = i.instance_id
           ORDER BY i.instance_id, v.labels`,
          [query.namespace, query.seenSince, query.after ?? '', query.limit ?? null],
        );
        return groupInstances(query.namespace, rows);
      });
    },

    async summarizeInstances(query) {
      return db.read(async (pool) => {
        const health = await pool.query<{ health: string; n: number }>(
          'SELECT health, count(*)::integer AS n FROM instances WHERE namespace = $1 AND last_seen >= $2 GROUP BY health',
          [query.namespace, query.seenSince],
        );
        const views = await pool.query<{ seq: string; status: string; n: number }>(
          `SELECT v.seq, v.status, count(*)::integer AS n
           FROM instances i JOIN instance_views v ON v.namespace = i.namespace AND v.instance_id = i.instance_id
           WHERE i.namespace = $1 AND i.last_seen >= $2 GROUP BY v.seq, v.status`,
          [query.namespace, query.seenSince],
        );
        return instanceSummary(health.rows, views.rows);
      });
    },

    async instanceOwners(instanceId) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<{ namespace: string; reporter: string }>(
          'SELECT namespace, reporter FROM instances WHERE instance_id = $1 ORDER BY namespace',
          [instanceId],
        );
        return rows;
      });
    },

    async countInstances(namespace) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<{ n: number }>(
          'SELECT count(*)::integer AS n FROM instances WHERE namespace = $1',
          [namespace],
        );
        return rows[0]?.n ?? 0;
      });
    },

    async pruneInstances(seenBefore) {
      return db.transaction(async (client) => {
        await client.query(
          `DELETE FROM instance_views v USING instances i
           WHERE v.namespace = i.namespace AND v.instance_id = i.instance_id AND i.last_seen < $1`,
          [seenBefore],
        );
        const { rowCount } = await client.query('DELETE FROM instances WHERE last_seen < $1', [seenBefore]);
        return rowCount ?? 0;
      });
    },

    async recordRelayReceipts(receipts) {
      if (receipts.length === 0) return;
      await db.transaction(async (client) => {
        // The earliest times win (LEAST ignores NULL): a relay reports a receipt again after a restart.
        for (const r of receipts) {
          await client.query(
            `INSERT INTO relay_receipts (namespace, seq, relay, path, received_at, served_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (namespace, seq, relay) DO UPDATE SET path = excluded.path,
               received_at = LEAST(relay_receipts.received_at, excluded.received_at),
               served_at = LEAST(relay_receipts.served_at, excluded.served_at)`,
            [r.namespace, r.seq, r.relay, JSON.stringify(r.path), r.receivedAt, r.servedAt],
          );
          await client.query('DELETE FROM relay_receipts WHERE namespace = $1 AND relay = $2 AND seq <= $3', [
            r.namespace,
            r.relay,
            r.seq - relayReceiptsKept,
          ]);
        }
      });
    },

    async listRelayReceipts(namespace, seq) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<RelayReceiptRow>(
          'SELECT * FROM relay_receipts WHERE namespace = $1 AND seq = $2 ORDER BY relay',
          [namespace, seq],
        );
        return rows.map(relayReceiptOf);
      });
    },

    async removeInstances(namespace, instanceIds, reporter) {
      if (instanceIds.length === 0) return 0;
      return db.transaction(async (client) => {
        await client.query(
          `DELETE FROM instance_views v USING instances i
           WHERE v.namespace = i.namespace AND v.instance_id = i.instance_id
             AND i.namespace = $1 AND i.instance_id = ANY($2::text[]) AND i.reporter = $3`,
          [namespace, [...instanceIds], reporter],
        );
        const { rowCount } = await client.query(
          'DELETE FROM instances WHERE namespace = $1 AND instance_id = ANY($2::text[]) AND reporter = $3',
          [namespace, [...instanceIds], reporter],
        );
        return rowCount ?? 0;
      });
    },
  };
}
