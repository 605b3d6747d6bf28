import {
  AuditChainVerifier,
  decodeCursor,
  encodeCursor,
  type AuditRecord,
  type AuditVerification,
  type Page,
} from '@herald/core';
import type { Store } from '@herald/store';
import { requireSystemAdmin, type Principal } from '../principal.js';

export type AuditStore = Pick<Store, 'listAudit'>;

/** What an audit listing may ask for: an order, a page, and filters that must all hold. */
export interface AuditQuery {
  cursor?: string;
  limit: number;
  /** Oldest first (the default: the chain's order) or newest first. */
  order?: 'oldest' | 'newest';
  actor?: string;
  /** An action (`rollout.start`), or a family of them (`rollout` matches `rollout.start`, `rollout.pause`, …). */
  action?: string;
  /** Records about this namespace (target `namespace:NS`). */
  namespace?: string;
  /** Records at or after this time (milliseconds since the epoch). */
  since?: number;
}

/** Records read from the store per step. */
const batch = 500;
/**
 * Records one listing examines at most. The store lists by sequence only, so filters are applied
 * here; a filter that matches little ends the page early with a `next` cursor to read on from,
 * rather than reading the whole log in one request.
 */
const scanBudget = 20_000;

function matches(record: AuditRecord, query: AuditQuery): boolean {
  if (query.actor !== undefined && record.actor !== query.actor) return false;
  if (query.action !== undefined && record.action !== query.action && !record.action.startsWith(`${query.action}.`))
    return false;
  if (query.namespace !== undefined && record.target !== `namespace:${query.namespace}`) return false;
  return query.since === undefined || record.at >= query.since;
}

/** Reading the audit log and checking its hash chain (system admins only); records are written by the other services. */
export class AuditService {
  readonly #store: AuditStore;

  constructor(deps: { store: AuditStore }) {
    this.#store = deps.store;
  }

  async listAudit(principal: Principal, query: AuditQuery): Promise<Page<AuditRecord>> {
    requireSystemAdmin(principal);
    const position = query.cursor === undefined ? undefined : Number(decodeCursor(query.cursor, ['number'])[0]);
    return query.order === 'newest' ? this.#newest(query, position) : this.#oldest(query, position);
  }

  /** Oldest first from after `afterSeq`. */
  async #oldest(query: AuditQuery, afterSeq: number | undefined): Promise<Page<AuditRecord>> {
    const items: AuditRecord[] = [];
    let after = afterSeq ?? 0;
    let scanned = 0;
    for (;;) {
      const records = await this.#store.listAudit({ afterSeq: after, limit: batch });
      for (const record of records) {
        after = record.seq;
        scanned += 1;
        if (!matches(record, query)) continue;
        if (items.length === query.limit) return { items, next: encodeCursor([items.at(-1)?.seq ?? after]) };
        items.push(record);
      }
      if (records.length < batch) return { items };
      if (scanned >= scanBudget) return { items, next: encodeCursor([after]) };
    }
  }

  /** Newest first from before `beforeSeq` (the end of the log when absent), reading back in windows of sequence numbers. */
  async #newest(query: AuditQuery, beforeSeq: number | undefined): Promise<Page<AuditRecord>> {
    const items: AuditRecord[] = [];
    let before = beforeSeq ?? (await this.#endSeq());
    let scanned = 0;
    while (before > 1) {
      const from = Math.max(0, before - 1 - batch);
      // At most `batch` sequence numbers lie in (from, before): one read holds all of them.
      const records = (await this.#store.listAudit({ afterSeq: from, limit: batch }))
        .filter((r) => r.seq < before)
        .reverse();
      for (const record of records) {
        scanned += 1;
        // Sequence order is time order: nothing older can match `since` any more.
        if (query.since !== undefined && record.at < query.since) return { items };
        if (!matches(record, query)) continue;
        if (items.length === query.limit) return { items, next: encodeCursor([items.at(-1)?.seq ?? before]) };
        items.push(record);
      }
      before = from + 1;
      if (scanned >= scanBudget && before > 1) return { items, next: encodeCursor([before]) };
    }
    return { items };
  }

  /**
   * One past the last sequence number. The store lists forwards only, so the end is found by
   * asking whether records follow a position: doubling, then halving (about 2·log2(n) reads of
   * one record each).
   */
  async #endSeq(): Promise<number> {
    const followed = async (seq: number) => (await this.#store.listAudit({ afterSeq: seq, limit: 1 })).length > 0;
    let low = 0;
    let high = 1;
    while (await followed(high)) {
      low = high;
      high *= 2;
    }
    // followed(low) holds (or low is 0), followed(high) does not: the last record is in (low, high].
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (await followed(middle)) low = middle;
      else high = middle;
    }
    return (await followed(low)) ? high + 1 : low + 1;
  }

  async verifyAudit(principal: Principal): Promise<AuditVerification> {
    requireSystemAdmin(principal);
    return this.verifyChain();
  }

  /** The whole chain checked, for the node's own periodic verification (no caller to authorise). */
  async verifyChain(): Promise<AuditVerification> {
    const verifier = new AuditChainVerifier();
    let afterSeq = 0;
    for (;;) {
      const page = await this.#store.listAudit({ afterSeq, limit: 1000 });
      for (const record of page) verifier.add(record);
      const last = page.at(-1);
      if (!last || page.length < 1000) break;
      afterSeq = last.seq;
    }
    return verifier.result();
  }
}
