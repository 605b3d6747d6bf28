import type { StoreParts } from '../composed-store.js';
import { signingKeyColumns, signingKeyValues, toSigningKey, type SigningKeyRow } from '../rows.js';
import type { PostgresContext } from './database.js';

/** Signing keys in PostgreSQL. */
export function postgresSigningKeys(context: PostgresContext): StoreParts['signingKeys'] {
  const { db } = context;
  return {
    async listSigningKeys() {
      return db.read(async (pool) => {
        const { rows } = await pool.query<SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at, key_id');
        return rows.map(toSigningKey);
      });
    },

    async addSigningKey(key, audit) {
      await db.transaction(async (client) => {
        await client.query(
          `INSERT INTO signing_keys (${signingKeyColumns}) VALUES ($1, $2, $3, $4, $5)`,
          signingKeyValues(key),
        );
        await context.audit.appendIn(client, audit);
      });
    },
  };
}
