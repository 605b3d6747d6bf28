import type { StoreParts } from '../composed-store.js';
import type { PostgresDatabase } from './database.js';

/** Flag usage in PostgreSQL: hourly evaluation counts added up, and each flag's last evaluation. */
export function postgresFlagUsage(db: PostgresDatabase): StoreParts['flagUsage'] {
  return {
    async recordFlagEvaluations(counts) {
      if (counts.length === 0) return;
      // One row per key in each statement: ON CONFLICT may not meet the same row twice.
      const hours = new Map<
        string,
        { namespace: string; flag: string; variant: string; hour: number; count: number }
      >();
      const lasts = new Map<string, { namespace: string; flag: string; lastAt: number }>();
      for (const c of counts) {
        const key = JSON.stringify([c.namespace, c.flag, c.variant, c.hour]);
        const row = hours.get(key);
        if (row) row.count += c.count;
        else hours.set(key, { namespace: c.namespace, flag: c.flag, variant: c.variant, hour: c.hour, count: c.count });
        const flagKey = JSON.stringify([c.namespace, c.flag]);
        const last = lasts.get(flagKey);
        if (!last || last.lastAt < c.lastAt)
          lasts.set(flagKey, { namespace: c.namespace, flag: c.flag, lastAt: c.lastAt });
      }
      const rows = [...hours.values()];
      const last = [...lasts.values()];
      await db.transaction(async (client) => {
        await client.query(
          `INSERT INTO flag_evaluations (namespace, flag, variant, hour, count)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
           ON CONFLICT (namespace, flag, variant, hour) DO UPDATE SET count = flag_evaluations.count + excluded.count`,
          [
            rows.map((r) => r.namespace),
            rows.map((r) => r.flag),
            rows.map((r) => r.variant),
            rows.map((r) => r.hour),
            rows.map((r) => r.count),
          ],
        );
        await client.query(
          `INSERT INTO flag_last_evaluated (namespace, flag, last_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
           ON CONFLICT (namespace, flag) DO UPDATE SET last_at = greatest(flag_last_evaluated.last_at, excluded.last_at)`,
          [last.map((r) => r.namespace), last.map((r) => r.flag), last.map((r) => r.lastAt)],
        );
      });
    },

    async readFlagEvaluations(namespace, sinceHour) {
      const counts = await db.query<{ flag: string; variant: string; hour: string; count: string }>(
        `SELECT flag, variant, hour, count FROM flag_evaluations WHERE namespace = $1 AND hour >= $2
         ORDER BY flag, variant, hour`,
        [namespace, sinceHour],
      );
      const last = await db.query<{ flag: string; last_at: string }>(
        'SELECT flag, last_at FROM flag_last_evaluated WHERE namespace = $1 ORDER BY flag',
        [namespace],
      );
      return {
        counts: counts.rows.map((r) => ({
          flag: r.flag,
          variant: r.variant,
          hour: Number(r.hour),
          count: Number(r.count),
        })),
        last: last.rows.map((r) => ({ flag: r.flag, lastAt: Number(r.last_at) })),
      };
    },

    async pruneFlagEvaluations(beforeHour) {
      const { rowCount } = await db.query('DELETE FROM flag_evaluations WHERE hour < $1', [beforeHour]);
      return rowCount ?? 0;
    },

    async forgetFlagEvaluations(namespace, keep) {
      return db.transaction(async (client) => {
        await client.query('DELETE FROM flag_evaluations WHERE namespace = $1 AND NOT (flag = ANY($2::text[]))', [
          namespace,
          [...keep],
        ]);
        const { rowCount } = await client.query(
          'DELETE FROM flag_last_evaluated WHERE namespace = $1 AND NOT (flag = ANY($2::text[]))',
          [namespace, [...keep]],
        );
        return rowCount ?? 0;
      });
    },
  };
}
