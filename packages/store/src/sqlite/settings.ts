import type { AuditInput } from '@herald/core';
import type { SettingsStore } from '../types.js';
import type { SqliteContext } from './database.js';

/** Settings in SQLite. */
export class SqliteSettings implements SettingsStore {
  readonly #context: SqliteContext;

  constructor(context: SqliteContext) {
    this.#context = context;
  }

  async claimSetting(name: string, value: string): Promise<string> {
    const { db } = this.#context;
    return db.transaction(() => {
      db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, value);
      return (db.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string }).value;
    });
  }

  async putSetting(name: string, value: string, audit: AuditInput): Promise<void> {
    const { db } = this.#context;
    db.transaction(() => {
      db.prepare(
        'INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
      ).run(name, value);
      this.#context.audit.appendIn(audit);
    });
  }

  async getSetting(name: string): Promise<string | undefined> {
    const { db } = this.#context;
    db.assertOpen();
    return (db.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }
}
