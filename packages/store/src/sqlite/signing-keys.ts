import type { AuditInput } from '@herald/core';
import { signingKeyColumns, signingKeyValues, toSigningKey, type SigningKeyRow } from '../rows.js';
import type { SigningKeyRecord, SigningKeyStore } from '../types.js';
import type { SqliteContext } from './database.js';

/** Signing keys in SQLite. */
export class SqliteSigningKeys implements SigningKeyStore {
  readonly #context: SqliteContext;

  constructor(context: SqliteContext) {
    this.#context = context;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const { db } = this.#context;
    db.assertOpen();
    const rows = db.prepare('SELECT * FROM signing_keys ORDER BY created_at, key_id').all() as SigningKeyRow[];
    return rows.map(toSigningKey);
  }

  async addSigningKey(key: SigningKeyRecord, audit: AuditInput): Promise<void> {
    const { db } = this.#context;
    db.transaction(() => {
      db.prepare(`INSERT INTO signing_keys (${signingKeyColumns}) VALUES (?, ?, ?, ?, ?)`).run(
        ...signingKeyValues(key),
      );
      this.#context.audit.appendIn(audit);
    });
  }
}
