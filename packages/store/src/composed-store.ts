import type { AuditInput, AuditRecord, CommitRecord, CommitRequest, EntryVersion, NamespaceSchema } from '@herald/core';
import type {
  AccessKeyRecord,
  AccessStore,
  AuditStore,
  CommitQuery,
  CommitResult,
  CompactionResult,
  DeliveryStore,
  EntryQuery,
  EntryStore,
  HistoryQuery,
  InstanceRecord,
  InstanceReport,
  NamespaceRecord,
  ReleaseKind,
  ReleaseRecord,
  RevisionFeed,
  RolloutRecord,
  SettingsStore,
  SigningKeyRecord,
  SigningKeyStore,
  SnapshotRecord,
  SnapshotStatus,
  SnapshotStore,
  Store,
  TokenRecord,
} from './types.js';

/** The parts an adapter is made of, one per file of its folder, each typed by the methods it serves. */
export interface StoreParts {
  namespaces: Pick<
    EntryStore,
    'createNamespace' | 'getNamespace' | 'listNamespaces' | 'updateNamespace' | 'deleteNamespace'
  >;
  commits: Pick<EntryStore, 'commit'>;
  reads: Pick<
    EntryStore,
    'readEntries' | 'entryHistory' | 'listCommits' | 'namespaceRevisionAt' | 'compactedRevision'
  > &
    Pick<RevisionFeed, 'currentRevision'>;
  compaction: Pick<EntryStore, 'compact'>;
  releases: Pick<DeliveryStore, 'createRelease' | 'getRelease' | 'listReleases'>;
  rollouts: Pick<DeliveryStore, 'saveRollout' | 'getRollout' | 'listActiveRollouts' | 'listRollouts'>;
  instances: Pick<DeliveryStore, 'recordReports' | 'listInstances'>;
  signingKeys: SigningKeyStore;
  access: AccessStore;
  snapshots: SnapshotStore;
  settings: SettingsStore;
  audit: AuditStore;
  feed: Pick<RevisionFeed, 'watchRevisions'>;
}

/**
 * A Store made of parts: each method is handed to the part that serves it, so an adapter class is
 * only its parts, how it opens and how it closes. One table of delegations for both adapters.
 */
export abstract class ComposedStore implements Store {
  abstract readonly kind: Store['kind'];
  readonly #parts: StoreParts;

  constructor(parts: StoreParts) {
    this.#parts = parts;
  }

  abstract close(): Promise<void>;

  // --- revisions and change feed ---

  currentRevision(): Promise<number> {
    return this.#parts.reads.currentRevision();
  }

  watchRevisions(listener: (revision: number) => void): () => void {
    return this.#parts.feed.watchRevisions(listener);
  }

  // --- entries ---

  compactedRevision(): Promise<number> {
    return this.#parts.reads.compactedRevision();
  }

  createNamespace(
    input: { name: string; description: string; schema: NamespaceSchema | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#parts.namespaces.createNamespace(input, audit);
  }

  getNamespace(name: string): Promise<NamespaceRecord | undefined> {
    return this.#parts.namespaces.getNamespace(name);
  }

  listNamespaces(query: { after?: string | undefined; limit: number }): Promise<NamespaceRecord[]> {
    return this.#parts.namespaces.listNamespaces(query);
  }

  updateNamespace(
    name: string,
    patch: { description?: string; schema?: NamespaceSchema | null; policy?: Record<string, unknown> | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord> {
    return this.#parts.namespaces.updateNamespace(name, patch, audit);
  }

  deleteNamespace(name: string, options: { force: boolean }, audit: AuditInput): Promise<void> {
    return this.#parts.namespaces.deleteNamespace(name, options, audit);
  }

  commit(request: CommitRequest, audit: AuditInput, limits: { maxEntriesPerNamespace: number }): Promise<CommitResult> {
    return this.#parts.commits.commit(request, audit, limits);
  }

  readEntries(query: EntryQuery): Promise<EntryVersion[]> {
    return this.#parts.reads.readEntries(query);
  }

  entryHistory(query: HistoryQuery): Promise<EntryVersion[]> {
    return this.#parts.reads.entryHistory(query);
  }

  listCommits(query: CommitQuery): Promise<CommitRecord[]> {
    return this.#parts.reads.listCommits(query);
  }

  namespaceRevisionAt(namespace: string, at: number): Promise<number> {
    return this.#parts.reads.namespaceRevisionAt(namespace, at);
  }

  compact(revision: number, audit: AuditInput): Promise<CompactionResult> {
    return this.#parts.compaction.compact(revision, audit);
  }

  // --- delivery ---

  createRelease(
    input: { namespace: string; revision?: number; kind: ReleaseKind; author: string; note: string },
    audit: AuditInput,
  ): Promise<ReleaseRecord> {
    return this.#parts.releases.createRelease(input, audit);
  }

  getRelease(namespace: string, seq?: number): Promise<ReleaseRecord | undefined> {
    return this.#parts.releases.getRelease(namespace, seq);
  }

  listReleases(query: { namespace: string; beforeSeq?: number; limit: number }): Promise<ReleaseRecord[]> {
    return this.#parts.releases.listReleases(query);
  }

  saveRollout(
    rollout: Omit<RolloutRecord, 'version' | 'updatedAt'>,
    expectedVersion: number,
    audit: AuditInput | undefined,
  ): Promise<RolloutRecord> {
    return this.#parts.rollouts.saveRollout(rollout, expectedVersion, audit);
  }

  getRollout(id: string): Promise<RolloutRecord | undefined> {
    return this.#parts.rollouts.getRollout(id);
  }

  listActiveRollouts(namespace?: string): Promise<RolloutRecord[]> {
    return this.#parts.rollouts.listActiveRollouts(namespace);
  }

  listRollouts(namespace: string, limit: number): Promise<RolloutRecord[]> {
    return this.#parts.rollouts.listRollouts(namespace, limit);
  }

  recordReports(reports: readonly InstanceReport[]): Promise<void> {
    return this.#parts.instances.recordReports(reports);
  }

  listInstances(query: { namespace: string; seenSince: number }): Promise<InstanceRecord[]> {
    return this.#parts.instances.listInstances(query);
  }

  // --- signing keys ---

  listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.#parts.signingKeys.listSigningKeys();
  }

  addSigningKey(key: SigningKeyRecord, audit: AuditInput): Promise<void> {
    return this.#parts.signingKeys.addSigningKey(key, audit);
  }

  // --- access ---

  createToken(token: TokenRecord, audit: AuditInput): Promise<void> {
    return this.#parts.access.createToken(token, audit);
  }

  findToken(tokenHash: string): Promise<TokenRecord | undefined> {
    return this.#parts.access.findToken(tokenHash);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.#parts.access.listTokens();
  }

  revokeToken(id: string, at: number, audit: AuditInput): Promise<TokenRecord> {
    return this.#parts.access.revokeToken(id, at, audit);
  }

  createAccessKey(key: AccessKeyRecord, audit: AuditInput): Promise<void> {
    return this.#parts.access.createAccessKey(key, audit);
  }

  findAccessKey(tokenId: string): Promise<AccessKeyRecord | undefined> {
    return this.#parts.access.findAccessKey(tokenId);
  }

  // --- snapshots ---

  createSnapshot(record: SnapshotRecord, items: readonly EntryVersion[], audit: AuditInput): Promise<SnapshotRecord> {
    return this.#parts.snapshots.createSnapshot(record, items, audit);
  }

  getSnapshot(namespace: string, name: string): Promise<SnapshotRecord | undefined> {
    return this.#parts.snapshots.getSnapshot(namespace, name);
  }

  listSnapshots(query: { namespace: string; after?: string; limit: number }): Promise<SnapshotRecord[]> {
    return this.#parts.snapshots.listSnapshots(query);
  }

  updateSnapshot(
    namespace: string,
    name: string,
    patch: { status: SnapshotStatus; expiresAt: number | null; etag: string },
    ifEtag: string | undefined,
    audit: AuditInput,
  ): Promise<SnapshotRecord> {
    return this.#parts.snapshots.updateSnapshot(namespace, name, patch, ifEtag, audit);
  }

  readSnapshotItems(query: {
    namespace: string;
    name: string;
    after?: { key: string; label: string };
    limit?: number;
  }): Promise<EntryVersion[]> {
    return this.#parts.snapshots.readSnapshotItems(query);
  }

  // --- settings ---

  claimSetting(name: string, value: string): Promise<string> {
    return this.#parts.settings.claimSetting(name, value);
  }

  putSetting(name: string, value: string, audit: AuditInput): Promise<void> {
    return this.#parts.settings.putSetting(name, value, audit);
  }

  getSetting(name: string): Promise<string | undefined> {
    return this.#parts.settings.getSetting(name);
  }

  // --- audit ---

  appendAudit(input: AuditInput): Promise<AuditRecord> {
    return this.#parts.audit.appendAudit(input);
  }

  listAudit(query: { afterSeq?: number; limit: number }): Promise<AuditRecord[]> {
    return this.#parts.audit.listAudit(query);
  }
}
