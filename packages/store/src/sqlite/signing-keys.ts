import type { StoreParts } from '../composed-store.js';
import { signingKeyColumns, signingKeyValues, toSigningKey, type SigningKeyRow } from '../rows.js';
import type { SqliteContext } from './database.js';

/** Signing keys in SQLite. */
export function sqliteSigningKeys(context: SqliteContext): StoreParts['signingKeys'] {
  const { db } = context;
  return {
    async listSigningKeys() {
      db.assertOpen();
      const rows = db.prepare('SELECT * FROM signing_keys ORDER BY created_at, key_id').all() as SigningKeyRow[];
      return rows.map(toSigningKey);
    },

    async addSigningKey(key, audit) {
      db.transaction(() => {
        db.prepare(`INSERT INTO signing_keys (${signingKeyColumns}) VALUES (?, ?, ?, ?, ?)`).run(
          ...signingKeyValues(key),
        );
        context.audit.appendIn(audit);
      });
    },
  };
}
