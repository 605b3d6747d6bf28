import type { StoreParts } from '../composed-store.js';
import type { SqliteContext } from './database.js';

/** Settings in SQLite. */
export function sqliteSettings(context: SqliteContext): StoreParts['settings'] {
  const { db, memory } = context;
  return {
    async claimSetting(name, value) {
      return db.transaction(() => {
        memory.forgetSetting(name);
        db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, value);
        return (db.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string }).value;
      });
    },

    async putSetting(name, value, audit) {
      db.transaction(() => {
        memory.forgetSetting(name);
        db.prepare(
          'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        ).run(name, value);
        context.audit.appendIn(audit);
      });
    },

    async getSetting(name) {
      return memory.setting(
        name,
        () =>
          (db.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string } | undefined)?.value,
      );
    },
  };
}
