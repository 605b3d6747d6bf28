import type { StoreParts } from '../composed-store.js';
import type { SqliteDatabase } from './database.js';

/** Flag usage in SQLite: hourly evaluation counts added up, and each flag's last evaluation. */
export function sqliteFlagUsage(db: SqliteDatabase): StoreParts['flagUsage'] {
  return {
    async recordFlagEvaluations(counts) {
      if (counts.length === 0) return;
      db.transaction(() => {
        const add = db.prepare(
          `INSERT INTO flag_evaluations (namespace, flag, variant, hour, count) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (namespace, flag, variant, hour) DO UPDATE SET count = flag_evaluations.count + excluded.count`,
        );
        const last = db.prepare(
          `INSERT INTO flag_last_evaluated (namespace, flag, last_at) VALUES (?, ?, ?)
           ON CONFLICT (namespace, flag) DO UPDATE SET last_at = max(flag_last_evaluated.last_at, excluded.last_at)`,
        );
        for (const c of counts) {
          add.run(c.namespace, c.flag, c.variant, c.hour, c.count);
          last.run(c.namespace, c.flag, c.lastAt);
        }
      });
    },

    async readFlagEvaluations(namespace, sinceHour) {
      db.assertOpen();
      const counts = db
        .prepare(
          `SELECT flag, variant, hour, count FROM flag_evaluations WHERE namespace = ? AND hour >= ?
           ORDER BY flag, variant, hour`,
        )
        .all(namespace, sinceHour) as Array<{ flag: string; variant: string; hour: number; count: number }>;
      const last = (
        db
          .prepare('SELECT flag, last_at FROM flag_last_evaluated WHERE namespace = ? ORDER BY flag')
          .all(namespace) as Array<{ flag: string; last_at: number }>
      ).map((row) => ({ flag: row.flag, lastAt: row.last_at }));
      return { counts, last };
    },

    async pruneFlagEvaluations(beforeHour) {
      return db.transaction(() => db.prepare('DELETE FROM flag_evaluations WHERE hour < ?').run(beforeHour).changes);
    },

    async forgetFlagEvaluations(namespace, keep) {
      return db.transaction(() => {
        const kept = new Set(keep);
        const rows = db.prepare('SELECT flag FROM flag_last_evaluated WHERE namespace = ?').all(namespace) as Array<{
          flag: string;
        }>;
        const gone = rows.map((r) => r.flag).filter((flag) => !kept.has(flag));
        const forget = db.prepare('DELETE FROM flag_last_evaluated WHERE namespace = ? AND flag = ?');
        const counts = db.prepare('DELETE FROM flag_evaluations WHERE namespace = ? AND flag = ?');
        for (const flag of gone) {
          forget.run(namespace, flag);
          counts.run(namespace, flag);
        }
        return gone.length;
      });
    },
  };
}
