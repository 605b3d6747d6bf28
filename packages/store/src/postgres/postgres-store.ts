import {
  systemClock,
  type AuditInput,
  type AuditRecord,
  type Clock,
  type CommitRecord,
  type CommitRequest,
  type EntryVersion,
  type NamespaceSchema,
} from '@herald/core';
import type {
  AccessKeyRecord,
  CommitQuery,
  CommitResult,
  CompactionResult,
  EntryQuery,
  HistoryQuery,
  InstanceRecord,
  InstanceReport,
  NamespaceRecord,
  ReleaseKind,
  ReleaseRecord,
  RolloutRecord,
  SigningKeyRecord,
  SnapshotRecord,
  SnapshotStatus,
  Store,
  TokenRecord,
} from '../types.js';
import { PostgresAccess } from './access.js';
import { PostgresAuditChain } from './audit-chain.js';
import { PostgresChangeFeed } from './change-feed.js';
import { PostgresCompaction } from './compaction.js';
import { meta, PostgresDatabase, type PostgresContext } from './database.js';
import { PostgresEntryReads } from './entry-reads.js';
import { PostgresGroupCommit } from './group-commit.js';
import { PostgresInstances } from './instances.js';
import { PostgresNamespaces } from './namespaces.js';
import { PostgresReleases } from './releases.js';
import { PostgresRollouts } from './rollouts.js';
import { PostgresSettings } from './settings.js';
import { PostgresSigningKeys } from './signing-keys.js';
import { PostgresSnapshots } from './snapshots.js';

export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database`; the database must exist, the schema is migrated at open. */
  connectionString: string;
  clock?: Clock;
  /** Connections in the pool; default 10. One more is used for LISTEN while anyone watches revisions. */
  poolSize?: number;
  /** How often watchers also check the current revision, in case a notification was lost; default 1000 ms. */
  revisionCheckMs?: number;
  /** Giving up on opening a connection; default 5000 ms. */
  connectionTimeoutMs?: number;
  /** Bound on one statement; default 30000 ms. */
  statementTimeoutMs?: number;
  /** Most changes written by one group-commit transaction (a single larger commit still goes alone); default 10000. */
  maxChangesPerBatch?: number;
}

/**
 * The shared store: any number of Herald nodes on one PostgreSQL database. This class only
 * composes the parts, one per file of this folder:
 * - `database.ts`: the pool; every call rejects with `unavailable` (retryAfter 1) when it meets an
 *   unreachable server or a terminated backend, and the pool reconnects when the server is back;
 * - `group-commit.ts` and `commit-round.ts`: commits queued and written together, with the
 *   argument for gap-free revisions that no reader on any node sees out of order;
 * - `change-feed.ts`: LISTEN/NOTIFY plus a periodic revision check;
 * - `audit-chain.ts`: one hash chain for every node, appended in each mutation's own transaction;
 * - one part per area of the Store interface; writes to a namespace take its advisory lock
 *   (`namespaces.ts`).
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly #db: PostgresDatabase;
  readonly #feed: PostgresChangeFeed;
  readonly #commits: PostgresGroupCommit;
  readonly #namespaces: PostgresNamespaces;
  readonly #reads: PostgresEntryReads;
  readonly #compaction: PostgresCompaction;
  readonly #releases: PostgresReleases;
  readonly #rollouts: PostgresRollouts;
  readonly #instances: PostgresInstances;
  readonly #signingKeys: PostgresSigningKeys;
  readonly #access: PostgresAccess;
  readonly #snapshots: PostgresSnapshots;
  readonly #settings: PostgresSettings;
  readonly #audit: PostgresAuditChain;
  #closing: Promise<void> | undefined;

  private constructor(db: PostgresDatabase, options: PostgresStoreOptions) {
    const clock = options.clock ?? systemClock;
    this.#db = db;
    this.#audit = new PostgresAuditChain(db, clock);
    const context: PostgresContext = { db, audit: this.#audit, clock };
    this.#feed = new PostgresChangeFeed(db, options.revisionCheckMs ?? 1000);
    this.#commits = new PostgresGroupCommit(context, this.#feed, options.maxChangesPerBatch ?? 10_000);
    this.#namespaces = new PostgresNamespaces(context, this.#commits);
    this.#reads = new PostgresEntryReads(db);
    this.#compaction = new PostgresCompaction(context, this.#commits);
    this.#releases = new PostgresReleases(context, this.#commits);
    this.#rollouts = new PostgresRollouts(context);
    this.#instances = new PostgresInstances(db);
    this.#signingKeys = new PostgresSigningKeys(context);
    this.#access = new PostgresAccess(context);
    this.#snapshots = new PostgresSnapshots(context);
    this.#settings = new PostgresSettings(context);
  }

  /** Connects, migrates the schema (safely, even when several nodes start at once) and returns the store. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    return new PostgresStore(await PostgresDatabase.open(options), options);
  }

  // --- revisions and change feed ---

  async currentRevision(): Promise<number> {
    return this.#db.read(async (pool) => meta(pool, 'revision'));
  }

  watchRevisions(listener: (revision: number) => void): () => void {
    return this.#feed.watch(listener);
  }

  // --- entries ---

  async compactedRevision(): Promise<number> {
    return this.#db.read(async (pool) => meta(pool, 'compacted_revision'));
  }

  createNamespace(
    input: { name: string; description: string; schema: NamespaceSchema | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#namespaces.createNamespace(input, audit);
  }

  getNamespace(name: string): Promise<NamespaceRecord | undefined> {
    return this.#namespaces.getNamespace(name);
  }

  listNamespaces(query: { after?: string | undefined; limit: number }): Promise<NamespaceRecord[]> {
    return this.#namespaces.listNamespaces(query);
  }

  updateNamespace(
    name: string,
    patch: { description?: string; schema?: NamespaceSchema | null; policy?: Record<string, unknown> | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#namespaces.updateNamespace(name, patch, audit);
  }

  deleteNamespace(name: string, options: { force: boolean }, audit: AuditInput): Promise<void> {
    return this.#namespaces.deleteNamespace(name, options, audit);
  }

  commit(request: CommitRequest, audit: AuditInput, limits: { maxEntriesPerNamespace: number }): Promise<CommitResult> {
    return this.#commits.commit(request, audit, limits);
  }

  readEntries(query: EntryQuery): Promise<EntryVersion[]> {
    return this.#reads.readEntries(query);
  }

  entryHistory(query: HistoryQuery): Promise<EntryVersion[]> {
    return this.#reads.entryHistory(query);
  }

  listCommits(query: CommitQuery): Promise<CommitRecord[]> {
    return this.#reads.listCommits(query);
  }

  namespaceRevisionAt(namespace: string, at: number): Promise<number> {
    return this.#reads.namespaceRevisionAt(namespace, at);
  }

  compact(revision: number, audit: AuditInput): Promise<CompactionResult> {
    return this.#compaction.compact(revision, audit);
  }

  // --- delivery ---

  createRelease(
    input: { namespace: string; revision?: number; kind: ReleaseKind; author: string; note: string },
    audit: AuditInput,
  ): Promise<ReleaseRecord> {
    return this.#releases.createRelease(input, audit);
  }

  getRelease(namespace: string, seq?: number): Promise<ReleaseRecord | undefined> {
    return this.#releases.getRelease(namespace, seq);
  }

  listReleases(query: { namespace: string; beforeSeq?: number; limit: number }): Promise<ReleaseRecord[]> {
    return this.#releases.listReleases(query);
  }

  saveRollout(
    rollout: Omit<RolloutRecord, 'version' | 'updatedAt'>,
    expectedVersion: number,
    audit: AuditInput | undefined,
  ): Promise<RolloutRecord> {
    return this.#rollouts.saveRollout(rollout, expectedVersion, audit);
  }

  getRollout(id: string): Promise<RolloutRecord | undefined> {
    return this.#rollouts.getRollout(id);
  }

  listActiveRollouts(namespace?: string): Promise<RolloutRecord[]> {
    return this.#rollouts.listActiveRollouts(namespace);
  }

  listRollouts(namespace: string, limit: number): Promise<RolloutRecord[]> {
    return this.#rollouts.listRollouts(namespace, limit);
  }

  recordReports(reports: readonly InstanceReport[]): Promise<void> {
    return this.#instances.recordReports(reports);
  }

  listInstances(query: { namespace: string; seenSince: number }): Promise<InstanceRecord[]> {
    return this.#instances.listInstances(query);
  }

  // --- signing keys ---

  listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.#signingKeys.listSigningKeys();
  }

  addSigningKey(key: SigningKeyRecord, audit: AuditInput): Promise<void> {
    return this.#signingKeys.addSigningKey(key, audit);
  }

  // --- access ---

  createToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    return this.#access.createToken(token, audit);
  }

  findToken(tokenHash: string): Promise<TokenRecord | undefined> {
    return this.#access.findToken(tokenHash);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.#access.listTokens();
  }

  revokeToken(id: string, at: number, audit: AuditInput): Promise<TokenRecord> {
    return this.#access.revokeToken(id, at, audit);
  }

  createAccessKey(key: AccessKeyRecord, audit: AuditInput): Promise<void> {
    return this.#access.createAccessKey(key, audit);
  }

  findAccessKey(tokenId: string): Promise<AccessKeyRecord | undefined> {
    return this.#access.findAccessKey(tokenId);
  }

  // --- snapshots ---

  createSnapshot(record: SnapshotRecord, items: readonly EntryVersion[], audit: AuditInput): Promise<SnapshotRecord> {
    return this.#snapshots.createSnapshot(record, items, audit);
  }

  getSnapshot(namespace: string, name: string): Promise<SnapshotRecord | undefined> {
    return this.#snapshots.getSnapshot(namespace, name);
  }

  listSnapshots(query: { namespace: string; after?: string; limit: number }): Promise<SnapshotRecord[]> {
    return this.#snapshots.listSnapshots(query);
  }

  updateSnapshot(
    namespace: string,
    name: string,
    patch: { status: SnapshotStatus; expiresAt: number | null; etag: string },
    ifEtag: string | undefined,
    audit: AuditInput,
  ): Promise<SnapshotRecord> {
    return this.#snapshots.updateSnapshot(namespace, name, patch, ifEtag, audit);
  }

  readSnapshotItems(query: {
    namespace: string;
    name: string;
    after?: { key: string; label: string };
    limit?: number;
  }): Promise<EntryVersion[]> {
    return this.#snapshots.readSnapshotItems(query);
  }

  // --- settings ---

  claimSetting(name: string, value: string): Promise<string> {
    return this.#settings.claimSetting(name, value);
  }

  putSetting(name: string, value: string, audit: AuditInput): Promise<void> {
    return this.#settings.putSetting(name, value, audit);
  }

  getSetting(name: string): Promise<string | undefined> {
    return this.#settings.getSetting(name);
  }

  // --- audit ---

  appendAudit(input: AuditInput): Promise<AuditRecord> {
    return this.#audit.appendAudit(input);
  }

  listAudit(query: { afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    return this.#audit.listAudit(query);
  }

  // --- lifecycle ---

  /** Finishes the commits already accepted and the calls in flight, then closes every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#db.markClosed();
      await this.#commits.finish();
      await this.#db.settle();
      await this.#feed.close();
      await this.#db.end();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
