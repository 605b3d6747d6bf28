import type pg from 'pg';
import { chainAuditRecord, type AuditInput, type AuditRecord, type Clock } from '@herald/core';
import { toAudit, type AuditRow } from '../rows.js';
import type { AuditStore } from '../types.js';
import type { PostgresDatabase } from './database.js';

/** The hash-chained audit log in PostgreSQL, one chain for every node on the database. */
export class PostgresAuditChain implements AuditStore {
  readonly #db: PostgresDatabase;
  readonly #clock: Clock;

  constructor(db: PostgresDatabase, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * Appends a record to the audit chain inside the caller's transaction. The head row's lock makes
   * appends from every node one chain; it is held to the end of the transaction. (Commit rounds
   * append theirs in `herald_commit_round`, see commit-round.ts.)
   */
  async appendIn(client: pg.ClientBase, input: AuditInput): Promise<AuditRecord> {
    const { rows } = await client.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE',
    );
    const record = chainAuditRecord(rows[0], input, this.#clock.now());
    await client.query(
      `WITH a AS (
         INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       )
       UPDATE audit_head SET seq = $1, hash = $8 WHERE id = 1`,
      [
        record.seq,
        record.at,
        record.actor,
        record.action,
        record.target,
        JSON.stringify(record.details),
        record.prevHash,
        record.hash,
      ],
    );
    return record;
  }

  async appendAudit(input: AuditInput): Promise<AuditRecord> {
    return this.#db.transaction(async (client) => this.appendIn(client, input));
  }

  async listAudit(query: { afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    return this.#db.read(async (pool) => {
      const { rows } = await pool.query<AuditRow>('SELECT * FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2', [
        query.afterSeq ?? 0,
        query.limit,
      ]);
      return rows.map(toAudit);
    });
  }
}
