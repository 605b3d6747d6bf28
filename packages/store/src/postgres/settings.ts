import type { StoreParts } from '../composed-store.js';
import type { PostgresContext } from './database.js';

/** Settings in PostgreSQL. */
export function postgresSettings(context: PostgresContext): StoreParts['settings'] {
  const { db } = context;
  return {
    async claimSetting(name, value) {
      return db.read(async (pool) => {
        // One statement: the insert either wins or the conflicting row is read back (a no-op update returns it).
        const { rows } = await pool.query<{ value: string }>(
          'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = settings.value RETURNING value',
          [name, value],
        );
        return (rows[0] as { value: string }).value;
      });
    },

    async putSetting(name, value, audit) {
      await db.transaction(async (client) => {
        await client.query(
          'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
          [name, value],
        );
        await context.audit.appendIn(client, audit);
      });
    },

    async getSetting(name) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name]);
        return rows[0]?.value;
      });
    },
  };
}
