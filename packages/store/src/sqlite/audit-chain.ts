import { chainAuditRecord, type AuditInput, type AuditRecord, type Clock } from '@herald/core';
import { toAudit, type AuditRow } from '../rows.js';
import type { AuditStore } from '../types.js';
import type { SqliteDatabase } from './database.js';

/** The hash-chained audit log in SQLite: one writer at a time, so the chain's head is the last row. */
export class SqliteAuditChain implements AuditStore {
  readonly #db: SqliteDatabase;
  readonly #clock: Clock;

  constructor(db: SqliteDatabase, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Appends a record inside the caller's transaction, so it lands with the change it records or not at all. */
  appendIn(input: AuditInput): AuditRecord {
    return this.appendAfter(this.head(), input);
  }

  /** The chain's last record (seq and hash), inside the caller's transaction; undefined while the chain is empty. */
  head(): { seq: number; hash: string } | undefined {
    return this.#db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as
      { seq: number; hash: string } | undefined;
  }

  /**
   * Appends a record after `last`, which the caller read with `head()` or appended itself in the
   * same transaction (the group commit carries it from one commit of a batch to the next).
   */
  appendAfter(last: { seq: number; hash: string } | undefined, input: AuditInput): AuditRecord {
    const record = chainAuditRecord(last, input, this.#clock.now());
    this.#db
      .prepare(
        'INSERT INTO audit (seq, at, actor, action, target, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        record.seq,
        record.at,
        record.actor,
        record.action,
        record.target,
        JSON.stringify(record.details),
        record.prevHash,
        record.hash,
      );
    return record;
  }

  async appendAudit(input: AuditInput): Promise<AuditRecord> {
    return this.#db.transaction(() => this.appendIn(input));
  }

  async listAudit(query: { afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    this.#db.assertOpen();
    const rows = this.#db
      .prepare('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(query.afterSeq ?? 0, query.limit) as AuditRow[];
    return rows.map(toAudit);
  }
}
