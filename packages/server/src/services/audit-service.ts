import { AuditChainVerifier, decodeCursor, type AuditRecord, type AuditVerification, type Page } from '@herald/core';
import type { Store } from '@herald/store';
import { requireSystemAdmin, type Principal } from '../principal.js';
import { pageOf } from './paging.js';

export type AuditStore = Pick<Store, 'listAudit'>;

/** Reading the audit log and checking its hash chain (system admins only); records are written by the other services. */
export class AuditService {
  readonly #store: AuditStore;

  constructor(deps: { store: AuditStore }) {
    this.#store = deps.store;
  }

  async listAudit(principal: Principal, query: { cursor?: string; limit: number }): Promise<Page<AuditRecord>> {
    requireSystemAdmin(principal);
    const afterSeq = query.cursor === undefined ? undefined : Number(decodeCursor(query.cursor, ['number'])[0]);
    const records = await this.#store.listAudit({
      limit: query.limit + 1,
      ...(afterSeq === undefined ? {} : { afterSeq }),
    });
    return pageOf(records, query.limit, (last) => [last.seq]);
  }

  async verifyAudit(principal: Principal): Promise<AuditVerification> {
    requireSystemAdmin(principal);
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
