import type pg from 'pg';
import { chainAuditRecord, type AuditInput, type AuditRecord, type Clock } from '@herald/core';
import { toAudit, type AuditRow } from '../rows.js';
import type { AuditStore } from '../types.js';
import { revisionChannel } from './change-feed.js';
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
   * Appends records to the audit chain inside the caller's transaction. The head row's lock makes
   * appends from every node one chain; it is held to the end of the transaction. With `revision`,
   * the newest revision is also announced to every node's watchers (delivered at COMMIT), in the
   * same statement to spare the commit's tail a round trip.
   */
  async appendIn(client: pg.ClientBase, input: AuditInput): Promise<AuditRecord>;
  async appendIn(client: pg.ClientBase, inputs: AuditInput[], revision: number): Promise<AuditRecord[]>;
  async appendIn(
    client: pg.ClientBase,
    inputs: AuditInput | AuditInput[],
    revision?: number,
  ): Promise<AuditRecord | AuditRecord[]> {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const { rows } = await client.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE',
    );
    let previous = rows[0] as { seq: number; hash: string };
    const now = this.#clock.now();
    const records = list.map((input) => {
      const record = chainAuditRecord(previous, input, now);
      previous = record;
      return record;
    });
    await client.query(
      `WITH a AS (
         INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
       ), h AS (
         UPDATE audit_head SET seq = $9, hash = $10 WHERE id = 1
       )
       SELECT CASE WHEN $11::bigint IS NULL THEN NULL ELSE pg_notify('${revisionChannel}', $11::text) END`,
      [
        records.map((r) => r.seq),
        records.map((r) => r.at),
        records.map((r) => r.actor),
        records.map((r) => r.action),
        records.map((r) => r.target),
        records.map((r) => JSON.stringify(r.details)),
        records.map((r) => r.prevHash),
        records.map((r) => r.hash),
        previous.seq,
        previous.hash,
        revision ?? null,
      ],
    );
    return Array.isArray(inputs) ? records : (records[0] as AuditRecord);
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
