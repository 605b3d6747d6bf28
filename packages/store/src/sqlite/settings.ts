import type { StoreParts } from '../composed-store.js';
import type { SqliteContext } from './database.js';

/** Settings in SQLite. */
export function sqliteSettings(context: SqliteContext): StoreParts['settings'] {
  const { db } = context;
  return {
    async claimSetting(name, value) {
      return db.transaction(() => {
        db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, value);
        return (db.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string }).value;
      });
    },

    async putSetting(name, value, audit) {
      db.transaction(() => {
        db.prepare(
          'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        ).run(name, value);
        context.audit.appendIn(audit);
      });
    },

    async getSetting(name) {
      db.assertOpen();
      return (db.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string } | undefined)
        ?.value;
    },
  };
}
