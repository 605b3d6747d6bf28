import type { AuditInput } from '@herald/core';
import type { SettingsStore } from '../types.js';
import type { PostgresContext } from './database.js';

/** Settings in PostgreSQL. */
export class PostgresSettings implements SettingsStore {
  readonly #context: PostgresContext;

  constructor(context: PostgresContext) {
    this.#context = context;
  }

  async claimSetting(name: string, value: string): Promise<string> {
    return this.#context.db.read(async (pool) => {
      // One statement: the insert either wins or the conflicting row is read back (a no-op update returns it).
      const { rows } = await pool.query<{ value: string }>(
        'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = settings.value RETURNING value',
        [name, value],
      );
      return (rows[0] as { value: string }).value;
    });
  }

  async putSetting(name: string, value: string, audit: AuditInput): Promise<void> {
    await this.#context.db.transaction(async (client) => {
      await client.query(
        'INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        [name, value],
      );
      await this.#context.audit.appendIn(client, audit);
    });
  }

  async getSetting(name: string): Promise<string | undefined> {
    return this.#context.db.read(async (pool) => {
      const { rows } = await pool.query<{ value: string }>('SELECT value FROM settings WHERE name = $1', [name]);
      return rows[0]?.value;
    });
  }
}
