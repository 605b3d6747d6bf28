import type {
  AuditInput,
  AuditRecord,
  CommitRecord,
  CommitRequest,
  EntryVersion,
  NamespaceSchema,
  Scope,
} from '@herald/core';

export interface NamespaceRecord {
  name: string;
  description: string;
  schema: NamespaceSchema | null;
  /** The rollout policy (JSON, validated by the server); null means `immediate`. */
  policy: Record<string, unknown> | null;
  /** Revision of the last commit that touched the namespace; 0 before the first. */
  revision: number;
  /** Live entries, all labels together. */
  entryCount: number;
  createdAt: number;
}

export interface TokenRecord {
  id: string;
  name: string;
  scopes: Scope[];
  /** SHA-256 of the whole token; the token itself is never stored. */
  tokenHash: string;
  createdAt: number;
  createdBy: string;
  expiresAt: number | null;
  revokedAt: number | null;
}

/**
 * A token that is also an HMAC access key (the Id and Secret of an Azure App Configuration
 * connection string). HMAC verification needs the secret itself, so unlike a bearer token's it is
 * kept, encrypted by the caller before it gets here; the token row carries scopes, expiry and
 * revocation as for any token.
 */
export interface AccessKeyRecord {
  token: TokenRecord;
  encryptedSecret: string;
}

export type SnapshotStatus = 'provisioning' | 'ready' | 'archived' | 'failed';

/** Which entries a snapshot took: a key filter, a label filter and tag filters (`name=value`), as the Azure API gives them. */
export interface SnapshotFilter {
  key: string;
  label?: string;
  tags?: string[];
}

/**
 * A named, immutable copy of some of a namespace's entries (Azure App Configuration snapshots).
 * Its items are copied when it is made, so later commits and compaction never change them; only
 * its status (ready or archived), expiry and etag change afterwards.
 */
export interface SnapshotRecord {
  namespace: string;
  name: string;
  status: SnapshotStatus;
  filters: SnapshotFilter[];
  compositionType: 'key' | 'key_label';
  /** Seconds an archived snapshot is kept before it expires. */
  retentionPeriod: number;
  tags: Record<string, string>;
  createdAt: number;
  /** When an archived snapshot expires (ms since the epoch); null while it is ready. */
  expiresAt: number | null;
  /** The store revision whose state the items are a copy of. */
  revision: number;
  itemsCount: number;
  /** Bytes of the items (keys, labels, values, content types and tags). */
  size: number;
  etag: string;
}

export interface CommitResult {
  revision: number;
  versions: EntryVersion[];
  /** The release made with the commit, when the request asked for one. */
  release?: ReleaseRecord;
}

export type ReleaseKind = 'commit' | 'manual' | 'rollback' | 'rollout';

/** A namespace frozen at a revision; `seq` grows by one per release of the namespace. */
export interface ReleaseRecord {
  namespace: string;
  seq: number;
  /** The store revision whose state of the namespace is the release's content. */
  revision: number;
  kind: ReleaseKind;
  author: string;
  note: string;
  createdAt: number;
}

/**
 * A rollout as stored: the state machine's state is opaque JSON to the store. `version` grows by
 * one with every save; a save names the version it read, so two writers can never overwrite each
 * other's transitions unseen.
 */
export interface RolloutRecord {
  id: string;
  namespace: string;
  /** Running, paused or frozen: at most one active rollout per namespace. */
  active: boolean;
  state: Record<string, unknown>;
  version: number;
  updatedAt: number;
}

/** A signing key as stored: the private key is encrypted by the caller before it gets here. */
export interface SigningKeyRecord {
  keyId: string;
  publicKey: string;
  encryptedPrivateKey: string;
  createdAt: number;
  endorsedBy: { keyId: string; signature: string } | null;
}

export interface InstanceViewReport {
  namespace: string;
  labels: string[];
  seq: number;
  digest: string;
  status: 'applied' | 'rejected';
  reason: string;
  /** When the instance applied this release (ms since the epoch, its own clock), when it said. */
  appliedAt?: number | undefined;
}

export interface InstanceReport {
  instanceId: string;
  /**
   * Who reports: the token id of the credential, prefixed by each relay's token id it came
   * through (`relay/client`). The first reporter of an instance in a namespace owns its record there.
   */
  reporter: string;
  attributes: Record<string, string>;
  health: 'ok' | 'degraded' | 'failing';
  healthDetail: string;
  views: InstanceViewReport[];
  /** When the report arrived, ms since the epoch. */
  at: number;
  /** The relays the report came through, nearest the instance first (none: it reported directly). */
  hops?: readonly string[] | undefined;
}

export interface InstanceRecord {
  instanceId: string;
  attributes: Record<string, string>;
  health: 'ok' | 'degraded' | 'failing';
  healthDetail: string;
  lastSeen: number;
  /** The relays its latest report came through, nearest the instance first. */
  hops: string[];
  /** Its views of the namespace asked for. */
  views: Array<InstanceViewReport & { updatedAt: number }>;
}

export interface InstanceQuery {
  namespace: string;
  seenSince: number;
  /** Only instances whose id sorts after this one (the last id of the previous page). */
  after?: string;
  /** At most this many instances. */
  limit?: number;
}

export interface InstanceSummary {
  /** Instances seen since. */
  instances: number;
  /** Instances per health. */
  health: Record<InstanceRecord['health'], number>;
  /** Views per release and status (an instance with two label stacks counts in each), newest release first. */
  releases: Array<{ seq: number; applied: number; rejected: number }>;
}

export interface EntryQuery {
  namespace: string;
  /** Read the namespace as it was at this revision; the current state when absent. */
  asOf?: number;
  key?: string;
  keyPrefix?: string;
  /** Only these labels; every label when absent. */
  labels?: readonly string[];
  /** Keyset pagination: entries after this (key, label) in (key, label) order. */
  after?: { key: string; label: string };
  limit?: number;
}

export interface HistoryQuery {
  namespace: string;
  key?: string;
  label?: string;
  /** Only versions older than this revision (for paging newest-first). */
  beforeRevision?: number;
  /** Only versions at or after this revision. */
  sinceRevision?: number;
  /** Newest first (the default) or oldest first. */
  order?: 'newest' | 'oldest';
  limit: number;
}

export interface CommitQuery {
  namespace: string;
  order: 'newest' | 'oldest';
  /** Keyset pagination: commits strictly after this one in the chosen order. */
  afterRevision?: number;
  limit: number;
}

export interface CompactionResult {
  revision: number;
  removedVersions: number;
}

/** Namespaces, their entries, commits, history and compaction: the configuration itself. */
export interface EntryStore {
  /** History at or before this revision is gone; as-of reads below it fail with `revision_compacted`. */
  compactedRevision(): Promise<number>;

  createNamespace(
    input: { name: string; description: string; schema: NamespaceSchema | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord>;
  getNamespace(name: string): Promise<NamespaceRecord | undefined>;
  /** Namespaces in name order, after `after`. */
  listNamespaces(query: { after?: string | undefined; limit: number }): Promise<NamespaceRecord[]>;
  updateNamespace(
    name: string,
    patch: { description?: string; schema?: NamespaceSchema | null; policy?: Record<string, unknown> | null },
    audit: AuditInput,
  ): Promise<NamespaceRecord>;
  /** Refuses a namespace with live entries unless `force`; then removes its entries and history too. */
  deleteNamespace(name: string, options: { force: boolean }, audit: AuditInput): Promise<void>;

  /**
   * Applies all changes at the next revision, or none of them. Fails with `namespace_not_found`,
   * `precondition_failed` (listing every conflict), `entry_locked`, `entry_not_found` or `namespace_full`.
   */
  commit(request: CommitRequest, audit: AuditInput, limits: { maxEntriesPerNamespace: number }): Promise<CommitResult>;
  /** Live entries matching the query in (key, label) order. */
  readEntries(query: EntryQuery): Promise<EntryVersion[]>;
  /** Versions (tombstones included), newest first unless `order` says otherwise. */
  entryHistory(query: HistoryQuery): Promise<EntryVersion[]>;
  listCommits(query: CommitQuery): Promise<CommitRecord[]>;
  /** The revision of the newest commit to the namespace made at or before `at` (ms since the epoch); 0 when there is none. */
  namespaceRevisionAt(namespace: string, at: number): Promise<number>;
  /**
   * Drops every version that no read at or after `revision` can see. Refused (`invalid_revision`)
   * past the revision of any namespace's newest release, whose content must stay deliverable.
   */
  compact(revision: number, audit: AuditInput): Promise<CompactionResult>;
}

/** Releases, rollouts and the reports instances send about what they applied: delivering the configuration. */
export interface DeliveryStore {
  /**
   * Makes the next release of a namespace (seq = last + 1) with the content of `revision`
   * (default: the namespace's current revision). Fails with `namespace_not_found`, or
   * `revision_compacted` when that content is gone.
   */
  createRelease(
    input: { namespace: string; revision?: number; kind: ReleaseKind; author: string; note: string },
    audit: AuditInput,
  ): Promise<ReleaseRecord>;
  /** The release with this seq, or the newest one when seq is absent. */
  getRelease(namespace: string, seq?: number): Promise<ReleaseRecord | undefined>;
  /** Releases newest first, before `beforeSeq`. */
  listReleases(query: { namespace: string; beforeSeq?: number; limit: number }): Promise<ReleaseRecord[]>;

  /**
   * Creates (expectedVersion 0) or updates a rollout. Fails with `precondition_failed` when the
   * stored version is not `expectedVersion`, and with `rollout_active` when another rollout of the
   * namespace is active. The audit record, when given, is appended in the same transaction.
   */
  saveRollout(
    rollout: Omit<RolloutRecord, 'version' | 'updatedAt'>,
    expectedVersion: number,
    audit: AuditInput | undefined,
  ): Promise<RolloutRecord>;
  getRollout(id: string): Promise<RolloutRecord | undefined>;
  /** Active rollouts, of one namespace or of all. */
  listActiveRollouts(namespace?: string): Promise<RolloutRecord[]>;
  /** Rollouts of a namespace, most recently updated first. */
  listRollouts(namespace: string, limit: number): Promise<RolloutRecord[]>;

  /**
   * Upserts a batch of instance reports (one transaction). A report changes the record of an
   * instance in each namespace it has views of, and nothing else; later reports of an instance win.
   * The first reporter of an instance in a namespace owns that record: another reporter's report
   * changes nothing of it (the caller refuses those before, `instanceOwners` tells it who owns what).
   */
  recordReports(reports: readonly InstanceReport[]): Promise<void>;
  /**
   * Instances seen at or after `seenSince` that reported a view of the namespace, by instance id;
   * with `after` and `limit`, one page of them (keyset paging: ids greater than `after`).
   */
  listInstances(query: InstanceQuery): Promise<InstanceRecord[]>;
  /** What the same instances add up to, counted by the database rather than listed. */
  summarizeInstances(query: { namespace: string; seenSince: number }): Promise<InstanceSummary>;
  /** Who owns the records of an instance, per namespace ('' for a record older than ownership). */
  instanceOwners(instanceId: string): Promise<Array<{ namespace: string; reporter: string }>>;
  /** How many instance records a namespace holds (expired ones too, until pruned). */
  countInstances(namespace: string): Promise<number>;
  /** Deletes the instance records (and their views) last seen before `seenBefore`; answers how many. */
  pruneInstances(seenBefore: number): Promise<number>;
  /**
   * Deletes the records (and their views) of these instances in the namespace that `reporter`
   * owns (an instance that left); another reporter's records stay. Answers how many went.
   */
  removeInstances(namespace: string, instanceIds: readonly string[], reporter: string): Promise<number>;
  /**
   * Records when relays received (their route announced it) and served (verified and ready) a
   * release, for its trace. Per (namespace, seq, relay) the earliest times are kept; a relay's
   * receipts of a namespace are kept for its newest `relayReceiptsKept` releases only.
   */
  recordRelayReceipts(receipts: readonly RelayReceipt[]): Promise<void>;
  /** The receipts of one release, by relay name. */
  listRelayReceipts(namespace: string, seq: number): Promise<RelayReceipt[]>;
}

/** Releases per namespace and relay whose receipts are kept. */
export const relayReceiptsKept = 100;

/** A relay's receipt of a release, as it reports it upstream. */
export interface RelayReceipt {
  namespace: string;
  seq: number;
  /** The relay's name (`herald relay --name`). */
  relay: string;
  /** The relays between it and the control plane, nearest it first. */
  path: string[];
  /** When its route announced the release, and when it first held it verified (ms since the epoch, the relay's clock). */
  receivedAt: number;
  servedAt: number | null;
}

/** Evaluations of one flag's variant in one namespace, within one hour. */
export interface FlagEvaluationCount {
  namespace: string;
  flag: string;
  variant: string;
  /** The start of the hour (ms since the epoch, a multiple of 3 600 000). */
  hour: number;
  count: number;
  /** When the latest of these evaluations was counted (ms since the epoch). */
  lastAt: number;
}

/**
 * Flag usage (docs/flags.md, "Usage counts"): evaluation counts per namespace, flag, variant and
 * hour, and when each flag was last evaluated. The server bounds what reaches it (known flags and
 * variants only, capped counts); the store adds and prunes.
 */
export interface FlagUsageStore {
  /** Adds the counts to their hours' rows (creating them), and moves each flag's last evaluation forward, atomically. */
  recordFlagEvaluations(counts: readonly FlagEvaluationCount[]): Promise<void>;
  /** The namespace's hourly counts from `sinceHour` on, and each flag's last evaluation (kept past pruning). */
  readFlagEvaluations(
    namespace: string,
    sinceHour: number,
  ): Promise<{
    counts: Array<{ flag: string; variant: string; hour: number; count: number }>;
    last: Array<{ flag: string; lastAt: number }>;
  }>;
  /** Deletes hourly counts of hours before `beforeHour`; answers how many rows went. */
  pruneFlagEvaluations(beforeHour: number): Promise<number>;
  /** Forgets the last evaluations of the namespace's flags not in `keep` (flags that were deleted); answers how many. */
  forgetFlagEvaluations(namespace: string, keep: readonly string[]): Promise<number>;
}

/** The keys that sign what is delivered (private halves encrypted by the caller). */
export interface SigningKeyStore {
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  addSigningKey(key: SigningKeyRecord, audit: AuditInput): Promise<void>;
}

/** Bearer tokens and the HMAC access keys built on them: who may call the APIs. */
export interface AccessStore {
  createToken(token: TokenRecord, audit: AuditInput): Promise<void>;
  findToken(tokenHash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  revokeToken(id: string, at: number, audit: AuditInput): Promise<TokenRecord>;
  /**
   * Rotation in one transaction: creates `successor` and makes the token `id` expire at `expiresAt`
   * (or keeps its own expiry when that is sooner); returns the old token as it now is. An unknown
   * token is `token_not_found`; a revoked or expired one (at `successor.createdAt`) is `token_not_rotatable`.
   */
  rotateToken(id: string, successor: TokenRecord, expiresAt: number, audit: AuditInput): Promise<TokenRecord>;
  /** Creates a token and its HMAC access key in one transaction (fails like createToken). */
  createAccessKey(key: AccessKeyRecord, audit: AuditInput): Promise<void>;
  /** The access key of the token with this id; undefined for an unknown id and for a token that is not an access key. */
  findAccessKey(tokenId: string): Promise<AccessKeyRecord | undefined>;
}

/** Named, immutable copies of some of a namespace's entries (Azure App Configuration snapshots). */
export interface SnapshotStore {
  /**
   * Stores a snapshot with a copy of its items, all or nothing. Fails with `namespace_not_found`,
   * or `snapshot_exists` unless the snapshot of that name is archived and expired at
   * `record.createdAt`, in which case it is replaced.
   */
  createSnapshot(record: SnapshotRecord, items: readonly EntryVersion[], audit: AuditInput): Promise<SnapshotRecord>;
  getSnapshot(namespace: string, name: string): Promise<SnapshotRecord | undefined>;
  /** Snapshots of a namespace in name order, after `after`. */
  listSnapshots(query: { namespace: string; after?: string; limit: number }): Promise<SnapshotRecord[]>;
  /**
   * Sets a snapshot's status, expiry and etag. Fails with `snapshot_not_found`, or
   * `precondition_failed` when `ifEtag` is given and is not the stored etag.
   */
  updateSnapshot(
    namespace: string,
    name: string,
    patch: { status: SnapshotStatus; expiresAt: number | null; etag: string },
    ifEtag: string | undefined,
    audit: AuditInput,
  ): Promise<SnapshotRecord>;
  /** A snapshot's items in (key, label) order, after `after` (nothing for an unknown snapshot). */
  readSnapshotItems(query: {
    namespace: string;
    name: string;
    after?: { key: string; label: string };
    limit?: number;
  }): Promise<EntryVersion[]>;
}

/** Named string settings of the whole store (facts fixed at creation, and operator settings). */
export interface SettingsStore {
  /**
   * Stores `value` under `name` unless a value is there already, and returns the stored one: the
   * first writer wins, on every node. For facts fixed at a store's creation (the fingerprint of
   * the secret-encryption key, so a node with a different key refuses to start).
   */
  claimSetting(name: string, value: string): Promise<string>;
  /** Sets a setting (last writer wins), auditing the change. */
  putSetting(name: string, value: string, audit: AuditInput): Promise<void>;
  getSetting(name: string): Promise<string | undefined>;
}

export type ControlKind = 'change_request' | 'schedule';

/**
 * A change-control record: a change request (a commit or a release waiting for approvals) or a
 * scheduled action. Its body is the server's, opaque JSON to the store; `state` and `dueAt` are
 * columns so lists can filter on them. `version` grows by one with every save, and a save names the
 * version it read, so two approvers (or two nodes) can never overwrite each other's step unseen.
 */
export interface ControlRecord {
  kind: ControlKind;
  id: string;
  namespace: string;
  state: string;
  /** When a schedule is due (ms since the epoch); null for change requests. */
  dueAt: number | null;
  body: Record<string, unknown>;
  version: number;
  createdAt: number;
  updatedAt: number;
}

/** Change requests and schedules: change control's own records. */
export interface ControlStore {
  /**
   * Creates (expectedVersion 0) or updates the record over the version its writer read, appending
   * the audit record in the same transaction; `precondition_failed` when the version moved on.
   * `createdAt` is kept from the first save.
   */
  saveControlRecord(
    record: Omit<ControlRecord, 'version' | 'createdAt' | 'updatedAt'>,
    expectedVersion: number,
    audit: AuditInput,
  ): Promise<ControlRecord>;
  getControlRecord(kind: ControlKind, id: string): Promise<ControlRecord | undefined>;
  /** Newest first; only the given namespace and states, and (schedules) only those due at or before `dueBefore`. */
  listControlRecords(query: {
    kind: ControlKind;
    namespace?: string | undefined;
    states?: readonly string[] | undefined;
    dueBefore?: number | undefined;
    limit: number;
  }): Promise<ControlRecord[]>;
}

/** The hash-chained audit log that every mutation appends to. */
export interface AuditStore {
  appendAudit(input: AuditInput): Promise<AuditRecord>;
  /** Records in sequence order, after `afterSeq`. */
  listAudit(query: { afterSeq?: number; limit: number }): Promise<AuditRecord[]>;
}

/** The store-wide revision and the feed that announces new ones, on this node and (when shared) on others. */
export interface RevisionFeed {
  /** The highest committed revision; 0 for an empty store. */
  currentRevision(): Promise<number>;
  /**
   * Calls `listener` after new revisions are committed, by this process or (for shared databases)
   * by any other node, with the highest revision known. Calls may coalesce several revisions;
   * listeners must read what they need from the store. Returns the unsubscribe function.
   */
  watchRevisions(listener: (revision: number) => void): () => void;
}

/** Which adapter it is, and its end. */
export interface StoreLifecycle {
  readonly kind: 'sqlite' | 'postgres';
  /** Finishes pending commits, then releases the database. Idempotent. */
  close(): Promise<void>;
}

/**
 * Herald's storage contract: the area interfaces together, so a service can declare the slice it
 * uses. Every method is atomic; every mutating method appends its audit record in the same
 * transaction as the change it records, so the audit log can neither miss a change nor record one
 * that did not happen. One conformance suite runs against every adapter.
 */
export interface Store
  extends
    EntryStore,
    DeliveryStore,
    FlagUsageStore,
    SigningKeyStore,
    AccessStore,
    SnapshotStore,
    SettingsStore,
    ControlStore,
    AuditStore,
    RevisionFeed,
    StoreLifecycle {}
