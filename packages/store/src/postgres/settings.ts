import type { StoreParts } from '../composed-store.js';
import { announceChange, changeChannel } from './change-feed.js';
import type { PostgresContext } from './database.js';
import { encodeChange } from './record-cache.js';

/** Settings in PostgreSQL. */
export function postgresSettings(context: PostgresContext): StoreParts['settings'] {
  const { db, records } = context;
  return {
    async claimSetting(name, value) {
      return db.read(async (pool) => {
        // One statement: the insert either wins or the conflicting row is read back (a no-op update
        // returns it); the nodes that cached its absence are told.
        const { rows } = await pool.query<{ value: string }>(
          `WITH s AS (
             INSERT INTO settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = settings.value RETURNING value
           )
           SELECT value, pg_notify('${changeChannel}', $3) FROM s`,
          [name, value, encodeChange({ kind: 'setting', name })],
        );
        records.apply({ kind: 'setting', name });
        return (rows[0] as { value: string }).value;
      });
    },

    async putSetting(name, value, audit) {
      await db.transaction(async (client) => {
        await client.query(
          'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
          [name, value],
        );
        await announceChange(client, { kind: 'setting', name });
        await context.audit.appendIn(client, audit);
      });
      records.apply({ kind: 'setting', name });
    },

    async getSetting(name) {
      return records.setting(name, () =>
        db.read(async (pool) => {
          const { rows } = await pool.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name]);
          return rows[0]?.value;
        }),
      );
    },
  };
}
