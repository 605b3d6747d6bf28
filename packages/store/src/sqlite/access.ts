import type { StoreParts } from '../composed-store.js';
import { tokenColumns, tokenValues, toToken, type TokenRow } from '../rows.js';
import { assertRotatable, tokenNotFound } from '../rules.js';
import type { TokenRecord } from '../types.js';
import type { SqliteContext } from './database.js';

/** Tokens and HMAC access keys in SQLite. */
export function sqliteAccess(context: SqliteContext): StoreParts['access'] {
  const { db } = context;

  function insertToken(token: TokenRecord): void {
    db.prepare(`INSERT INTO tokens (${tokenColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(...tokenValues(token));
  }

  return {
    async createToken(token, audit) {
      db.transaction(() => {
        insertToken(token);
        context.audit.appendIn(audit);
      });
    },

    async findToken(tokenHash) {
      db.assertOpen();
      const row = db.prepare('SELECT * FROM tokens WHERE token_hash = ?').get(tokenHash) as TokenRow | undefined;
      return row && toToken(row);
    },

    async listTokens() {
      db.assertOpen();
      return (db.prepare('SELECT * FROM tokens ORDER BY created_at, id').all() as TokenRow[]).map(toToken);
    },

    async revokeToken(id, at, audit) {
      return db.transaction(() => {
        const row = db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
        if (!row) throw tokenNotFound(id);
        if (row.revoked_at === null) {
          db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ?').run(at, id);
          context.audit.appendIn(audit);
        }
        return toToken(db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow);
      });
    },

    async rotateToken(id, successor, expiresAt, audit) {
      return db.transaction(() => {
        const row = db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
        if (!row) throw tokenNotFound(id);
        const old = toToken(row);
        assertRotatable(old, successor.createdAt);
        const until = old.expiresAt === null ? expiresAt : Math.min(old.expiresAt, expiresAt);
        db.prepare('UPDATE tokens SET expires_at = ? WHERE id = ?').run(until, id);
        insertToken(successor);
        context.audit.appendIn(audit);
        return { ...old, expiresAt: until };
      });
    },

    async createAccessKey(key, audit) {
      db.transaction(() => {
        insertToken(key.token);
        db.prepare('INSERT INTO access_keys (token_id, encrypted_secret) VALUES (?, ?)').run(
          key.token.id,
          key.encryptedSecret,
        );
        context.audit.appendIn(audit);
      });
    },

    async findAccessKey(tokenId) {
      db.assertOpen();
      const row = db
        .prepare(
          'SELECT t.*, k.encrypted_secret FROM access_keys k JOIN tokens t ON t.id = k.token_id WHERE k.token_id = ?',
        )
        .get(tokenId) as (TokenRow & { encrypted_secret: string }) | undefined;
      return row && { token: toToken(row), encryptedSecret: row.encrypted_secret };
    },
  };
}
