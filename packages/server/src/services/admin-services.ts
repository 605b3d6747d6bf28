import type { Clock, Limits } from '@herald/core';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';
import { AuditService } from './audit-service.js';
import { EntryService, type CommitGate } from './entry-service.js';
import { FlagCheck } from './flag-check.js';
import { HistoryService } from './history-service.js';
import { NamespaceService } from './namespace-service.js';
import { SchemaCheck } from './schema-check.js';
import { TokenService } from './token-service.js';

/**
 * Herald's admin operations, independent of HTTP, one service a job: authorisation, input limits,
 * schema validation, secret encryption and audit records happen in them, so every interface gets
 * the same rules. Routes take the one they need.
 */
export interface AdminServices {
  readonly tokens: TokenService;
  readonly audit: AuditService;
  readonly namespaces: NamespaceService;
  readonly entries: EntryService;
  readonly history: HistoryService;
}

export function createAdminServices(deps: {
  store: Store;
  clock: Clock;
  limits: Limits;
  codec: EntryCodec;
  tokenCacheMs?: number;
  /** Called after each commit, with the number of changes it made (for the metrics). */
  onCommit?: (revision: number, changes: number, seconds: number) => void;
  /** Change control, asked before every commit. */
  gate?: () => CommitGate | undefined;
}): AdminServices {
  const { store, clock, limits, codec } = deps;
  const schemas = new SchemaCheck({ store, codec });
  return {
    tokens: new TokenService({
      store,
      clock,
      ...(deps.tokenCacheMs === undefined ? {} : { cacheMs: deps.tokenCacheMs }),
    }),
    audit: new AuditService({ store }),
    namespaces: new NamespaceService({ store, limits, schemas }),
    entries: new EntryService({
      store,
      limits,
      codec,
      schemas,
      flags: new FlagCheck({ store, codec }),
      ...(deps.onCommit === undefined ? {} : { onCommit: deps.onCommit }),
      ...(deps.gate === undefined ? {} : { gate: deps.gate }),
    }),
    history: new HistoryService({ store, codec, limits }),
  };
}
