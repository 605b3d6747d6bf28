import { sha256 } from './sha256.js';
import { canonicalJson } from './canonical.js';

/** What a caller asks to be recorded; the store adds sequence, time and the chain. */
export interface AuditInput {
  actor: string;
  action: string;
  /** What the action was about, e.g. `namespace:payments` or `token:abc`. */
  target: string;
  /** Extra facts about the action. Never secret values: callers pass only metadata. */
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditInput> {
  seq: number;
  at: number;
  prevHash: string;
  hash: string;
}

/** The hash of the record before the first one. */
export const auditGenesisHash = '0'.repeat(64);

/**
 * Each record's hash covers its own fields and the previous record's hash, over RFC 8785
 * canonical JSON, so editing, removing or reordering any record breaks every hash after it.
 */
export function auditHash(record: Omit<AuditRecord, 'hash'>): string {
  const body = canonicalJson({
    seq: record.seq,
    at: record.at,
    actor: record.actor,
    action: record.action,
    target: record.target,
    details: record.details,
    prevHash: record.prevHash,
  });
  return sha256(body, 'hex');
}

export function chainAuditRecord(
  previous: Pick<AuditRecord, 'seq' | 'hash'> | undefined,
  input: AuditInput,
  at: number,
): AuditRecord {
  const unhashed = {
    seq: (previous?.seq ?? 0) + 1,
    at,
    actor: input.actor,
    action: input.action,
    target: input.target,
    details: input.details ?? {},
    prevHash: previous?.hash ?? auditGenesisHash,
  };
  return { ...unhashed, hash: auditHash(unhashed) };
}

export interface AuditVerification {
  ok: boolean;
  /** Records checked. */
  count: number;
  /** Hash of the last record: keep it elsewhere to detect truncation of the tail later. */
  head: string;
  /** The first record that does not fit the chain, and why. */
  firstBad?: { seq: number; reason: string };
}

/** Incremental verifier: feed records in sequence order, in as many pages as needed. */
export class AuditChainVerifier {
  #count = 0;
  #expectedSeq = 1;
  #prevHash = auditGenesisHash;
  #firstBad: { seq: number; reason: string } | undefined;

  add(record: AuditRecord): void {
    this.#count += 1;
    if (this.#firstBad) return;
    if (record.seq !== this.#expectedSeq) {
      this.#firstBad = {
        seq: record.seq,
        reason: `expected record ${this.#expectedSeq}, found ${record.seq} (removed or reordered)`,
      };
    } else if (record.prevHash !== this.#prevHash) {
      this.#firstBad = {
        seq: record.seq,
        reason: 'does not link to the previous record (removed, reordered or altered)',
      };
    } else if (auditHash(record) !== record.hash) {
      this.#firstBad = { seq: record.seq, reason: 'its content does not match its hash (altered)' };
    }
    this.#expectedSeq = record.seq + 1;
    this.#prevHash = record.hash;
  }

  result(): AuditVerification {
    return {
      ok: this.#firstBad === undefined,
      count: this.#count,
      head: this.#prevHash,
      ...(this.#firstBad ? { firstBad: this.#firstBad } : {}),
    };
  }
}
