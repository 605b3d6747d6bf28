import type { AuditInput } from '@herald/core';
import { signingKeyColumns, signingKeyValues, toSigningKey, type SigningKeyRow } from '../rows.js';
import type { SigningKeyRecord, SigningKeyStore } from '../types.js';
import type { PostgresContext } from './database.js';

/** Signing keys in PostgreSQL. */
export class PostgresSigningKeys implements SigningKeyStore {
  readonly #context: PostgresContext;

  constructor(context: PostgresContext) {
    this.#context = context;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.#context.db.read(async (pool) => {
      const { rows } = await pool.query<SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at, key_id');
      return rows.map(toSigningKey);
    });
  }

  async addSigningKey(key: SigningKeyRecord, audit: AuditInput): Promise<void> {
    await this.#context.db.transaction(async (client) => {
      await client.query(
        `INSERT INTO signing_keys (${signingKeyColumns}) VALUES ($1, $2, $3, $4, $5)`,
        signingKeyValues(key),
      );
      await this.#context.audit.appendIn(client, audit);
    });
  }
}
