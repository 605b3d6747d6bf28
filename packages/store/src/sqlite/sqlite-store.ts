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
import { RevisionListeners } from '../revision-listeners.js';
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
import { SqliteAccess } from './access.js';
import { SqliteAuditChain } from './audit-chain.js';
import { SqliteCompaction } from './compaction.js';
import { SqliteDatabase, type SqliteContext } from './database.js';
import { SqliteEntryReads } from './entry-reads.js';
import { SqliteGroupCommit } from './group-commit.js';
import { SqliteInstances } from './instances.js';
import { SqliteNamespaces } from './namespaces.js';
import { SqliteReleases } from './releases.js';
import { SqliteRollouts } from './rollouts.js';
import { SqliteSettings } from './settings.js';
import { SqliteSigningKeys } from './signing-keys.js';
import { SqliteSnapshots } from './snapshots.js';

export interface SqliteStoreOptions {
  /** Path of the database file; parent folders are created. */
  path: string;
  clock?: Clock;
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so an acknowledged
 * commit survives a crash of the process and of the machine. This class only composes the parts,
 * one per file of this folder: the database (`database.ts`), the group commit (`group-commit.ts`),
 * the audit chain (`audit-chain.ts`) that every mutation appends to in its own transaction, and one
 * part per area of the Store interface. The change feed is in-process (`RevisionListeners`).
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #db: SqliteDatabase;
  readonly #feed = new RevisionListeners();
  readonly #commits: SqliteGroupCommit;
  readonly #namespaces: SqliteNamespaces;
  readonly #reads: SqliteEntryReads;
  readonly #compaction: SqliteCompaction;
  readonly #releases: SqliteReleases;
  readonly #rollouts: SqliteRollouts;
  readonly #instances: SqliteInstances;
  readonly #signingKeys: SqliteSigningKeys;
  readonly #access: SqliteAccess;
  readonly #snapshots: SqliteSnapshots;
  readonly #settings: SqliteSettings;
  readonly #audit: SqliteAuditChain;

  private constructor(db: SqliteDatabase, clock: Clock) {
    this.#db = db;
    this.#audit = new SqliteAuditChain(db, clock);
    const context: SqliteContext = { db, audit: this.#audit, clock };
    this.#commits = new SqliteGroupCommit(context, this.#feed);
    this.#namespaces = new SqliteNamespaces(context, this.#commits);
    this.#reads = new SqliteEntryReads(db);
    this.#compaction = new SqliteCompaction(context, this.#commits);
    this.#releases = new SqliteReleases(context, this.#commits);
    this.#rollouts = new SqliteRollouts(context);
    this.#instances = new SqliteInstances(db);
    this.#signingKeys = new SqliteSigningKeys(context);
    this.#access = new SqliteAccess(context);
    this.#snapshots = new SqliteSnapshots(context);
    this.#settings = new SqliteSettings(context);
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(SqliteDatabase.open(options.path), options.clock ?? systemClock);
  }

  // --- revisions and change feed ---

  async currentRevision(): Promise<number> {
    return this.#db.meta('revision');
  }

  watchRevisions(listener: (revision: number) => void): () => void {
    return this.#feed.add(listener);
  }

  // --- entries ---

  async compactedRevision(): Promise<number> {
    return this.#db.meta('compacted_revision');
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

  /** Writes the commits already accepted, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#db.closed) return;
    this.#commits.flush();
    this.#db.close();
  }
}
