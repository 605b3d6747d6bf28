import type { AuditInput } from '@herald/core';
import { tokenColumns, tokenValues, toToken, type TokenRow } from '../rows.js';
import { tokenNotFound } from '../rules.js';
import type { AccessKeyRecord, AccessStore, TokenRecord } from '../types.js';
import type { SqliteContext } from './database.js';

/** Tokens and HMAC access keys in SQLite. */
export class SqliteAccess implements AccessStore {
  readonly #context: SqliteContext;

  constructor(context: SqliteContext) {
    this.#context = context;
  }

  async createToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    this.#context.db.transaction(() => {
      this.#insertToken(token);
      this.#context.audit.appendIn(audit);
    });
  }

  async findToken(tokenHash: string): Promise<TokenRecord | undefined> {
    const { db } = this.#context;
    db.assertOpen();
    const row = db.prepare('SELECT * FROM tokens WHERE token_hash = ?').get(tokenHash) as TokenRow | undefined;
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    const { db } = this.#context;
    db.assertOpen();
    return (db.prepare('SELECT * FROM tokens ORDER BY created_at, id').all() as TokenRow[]).map(toToken);
  }

  async revokeToken(id: string, at: number, audit: AuditInput): Promise<TokenRecord> {
    const { db } = this.#context;
    return db.transaction(() => {
      const row = db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
      if (!row) throw tokenNotFound(id);
      if (row.revoked_at === null) {
        db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ?').run(at, id);
        this.#context.audit.appendIn(audit);
      }
      return toToken(db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow);
    });
  }

  async createAccessKey(key: AccessKeyRecord, audit: AuditInput): Promise<void> {
    const { db } = this.#context;
    db.transaction(() => {
      this.#insertToken(key.token);
      db.prepare('INSERT INTO access_keys (token_id, encrypted_secret) VALUES (?, ?)').run(
        key.token.id,
        key.encryptedSecret,
      );
      this.#context.audit.appendIn(audit);
    });
  }

  async findAccessKey(tokenId: string): Promise<AccessKeyRecord | undefined> {
    const { db } = this.#context;
    db.assertOpen();
    const row = db
      .prepare(
        'SELECT t.*, k.encrypted_secret FROM access_keys k JOIN tokens t ON t.id = k.token_id WHERE k.token_id = ?',
      )
      .get(tokenId) as (TokenRow & { encrypted_secret: string }) | undefined;
    return row && { token: toToken(row), encryptedSecret: row.encrypted_secret };
  }

  #insertToken(token: TokenRecord): void {
    this.#context.db
      .prepare(`INSERT INTO tokens (${tokenColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(...tokenValues(token));
  }
}
