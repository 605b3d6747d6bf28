import type pg from 'pg';
import type { StoreParts } from '../composed-store.js';
import { tokenColumns, tokenValues, toToken, type TokenRow } from '../rows.js';
import { assertRotatable, tokenNotFound } from '../rules.js';
import type { TokenRecord } from '../types.js';
import type { PostgresContext } from './database.js';

/** Tokens and HMAC access keys in PostgreSQL. */
export function postgresAccess(context: PostgresContext): StoreParts['access'] {
  const { db } = context;
  return {
    async createToken(token, audit) {
      await db.transaction(async (client) => {
        await insertToken(client, token);
        await context.audit.appendIn(client, audit);
      });
    },

    async findToken(tokenHash) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<TokenRow>('SELECT * FROM tokens WHERE token_hash = $1', [tokenHash]);
        return rows[0] && toToken(rows[0]);
      });
    },

    async listTokens() {
      return db.read(async (pool) => {
        const { rows } = await pool.query<TokenRow>('SELECT * FROM tokens ORDER BY created_at, id');
        return rows.map(toToken);
      });
    },

    async revokeToken(id, at, audit) {
      return db.transaction(async (client) => {
        const { rows } = await client.query<TokenRow>('SELECT * FROM tokens WHERE id = $1 FOR UPDATE', [id]);
        const row = rows[0];
        if (!row) throw tokenNotFound(id);
        if (row.revoked_at !== null) return toToken(row);
        await client.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2', [at, id]);
        await context.audit.appendIn(client, audit);
        return toToken({ ...row, revoked_at: at });
      });
    },

    async rotateToken(id, successor, expiresAt, audit) {
      return db.transaction(async (client) => {
        const { rows } = await client.query<TokenRow>('SELECT * FROM tokens WHERE id = $1 FOR UPDATE', [id]);
        const row = rows[0];
        if (!row) throw tokenNotFound(id);
        const old = toToken(row);
        assertRotatable(old, successor.createdAt);
        const until = old.expiresAt === null ? expiresAt : Math.min(old.expiresAt, expiresAt);
        await client.query('UPDATE tokens SET expires_at = $1 WHERE id = $2', [until, id]);
        await insertToken(client, successor);
        await context.audit.appendIn(client, audit);
        return { ...old, expiresAt: until };
      });
    },

    async createAccessKey(key, audit) {
      await db.transaction(async (client) => {
        await insertToken(client, key.token);
        await client.query('INSERT INTO access_keys (token_id, encrypted_secret) VALUES ($1, $2)', [
          key.token.id,
          key.encryptedSecret,
        ]);
        await context.audit.appendIn(client, audit);
      });
    },

    async findAccessKey(tokenId) {
      return db.read(async (pool) => {
        const { rows } = await pool.query<TokenRow & { encrypted_secret: string }>(
          'SELECT t.*, k.encrypted_secret FROM access_keys k JOIN tokens t ON t.id = k.token_id WHERE k.token_id = $1',
          [tokenId],
        );
        const row = rows[0];
        return row && { token: toToken(row), encryptedSecret: row.encrypted_secret };
      });
    },
  };
}

async function insertToken(client: pg.ClientBase, token: TokenRecord): Promise<void> {
  await client.query(
    `INSERT INTO tokens (${tokenColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    tokenValues(token),
  );
}
