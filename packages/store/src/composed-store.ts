import type {
  AccessStore,
  AuditStore,
  ControlStore,
  DeliveryStore,
  EntryStore,
  FlagUsageStore,
  RevisionFeed,
  SettingsStore,
  SigningKeyStore,
  SnapshotStore,
  Store,
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
  instances: Pick<
    DeliveryStore,
    | 'recordReports'
    | 'listInstances'
    | 'summarizeInstances'
    | 'instanceOwners'
    | 'countInstances'
    | 'pruneInstances'
    | 'removeInstances'
    | 'recordRelayReceipts'
    | 'listRelayReceipts'
  >;
  flagUsage: FlagUsageStore;
  signingKeys: SigningKeyStore;
  access: AccessStore;
  snapshots: SnapshotStore;
  settings: SettingsStore;
  control: ControlStore;
  audit: AuditStore;
  feed: Pick<RevisionFeed, 'watchRevisions'>;
}

/**
 * A Store made of parts: each method is handed to the part that serves it, so an adapter class is
 * only its parts, how it opens and how it closes. One table of delegations for both adapters; the
 * methods' types and contracts are the area interfaces' (types.ts).
 */
export abstract class ComposedStore implements Store {
  abstract readonly kind: Store['kind'];
  readonly #parts: StoreParts;

  constructor(parts: StoreParts) {
    this.#parts = parts;
  }

  abstract close(): Promise<void>;

  // --- revisions and change feed ---
  readonly currentRevision: Store['currentRevision'] = () => this.#parts.reads.currentRevision();
  readonly watchRevisions: Store['watchRevisions'] = (listener) => this.#parts.feed.watchRevisions(listener);

  // --- entries ---
  readonly compactedRevision: Store['compactedRevision'] = () => this.#parts.reads.compactedRevision();
  readonly createNamespace: Store['createNamespace'] = (input, audit) =>
    this.#parts.namespaces.createNamespace(input, audit);
  readonly getNamespace: Store['getNamespace'] = (name) => this.#parts.namespaces.getNamespace(name);
  readonly listNamespaces: Store['listNamespaces'] = (query) => this.#parts.namespaces.listNamespaces(query);
  readonly updateNamespace: Store['updateNamespace'] = (name, patch, audit) =>
    this.#parts.namespaces.updateNamespace(name, patch, audit);
  readonly deleteNamespace: Store['deleteNamespace'] = (name, options, audit) =>
    this.#parts.namespaces.deleteNamespace(name, options, audit);
  readonly commit: Store['commit'] = (request, audit, limits) => this.#parts.commits.commit(request, audit, limits);
  readonly readEntries: Store['readEntries'] = (query) => this.#parts.reads.readEntries(query);
  readonly entryHistory: Store['entryHistory'] = (query) => this.#parts.reads.entryHistory(query);
  readonly listCommits: Store['listCommits'] = (query) => this.#parts.reads.listCommits(query);
  readonly namespaceRevisionAt: Store['namespaceRevisionAt'] = (namespace, at) =>
    this.#parts.reads.namespaceRevisionAt(namespace, at);
  readonly compact: Store['compact'] = (revision, audit) => this.#parts.compaction.compact(revision, audit);

  // --- delivery ---
  readonly createRelease: Store['createRelease'] = (input, audit) => this.#parts.releases.createRelease(input, audit);
  readonly getRelease: Store['getRelease'] = (namespace, seq) => this.#parts.releases.getRelease(namespace, seq);
  readonly listReleases: Store['listReleases'] = (query) => this.#parts.releases.listReleases(query);
  readonly saveRollout: Store['saveRollout'] = (rollout, expectedVersion, audit) =>
    this.#parts.rollouts.saveRollout(rollout, expectedVersion, audit);
  readonly getRollout: Store['getRollout'] = (id) => this.#parts.rollouts.getRollout(id);
  readonly listActiveRollouts: Store['listActiveRollouts'] = (namespace) =>
    this.#parts.rollouts.listActiveRollouts(namespace);
  readonly listRollouts: Store['listRollouts'] = (namespace, limit) =>
    this.#parts.rollouts.listRollouts(namespace, limit);
  readonly recordReports: Store['recordReports'] = (reports) => this.#parts.instances.recordReports(reports);
  readonly listInstances: Store['listInstances'] = (query) => this.#parts.instances.listInstances(query);
  readonly summarizeInstances: Store['summarizeInstances'] = (query) => this.#parts.instances.summarizeInstances(query);
  readonly instanceOwners: Store['instanceOwners'] = (instanceId) => this.#parts.instances.instanceOwners(instanceId);
  readonly countInstances: Store['countInstances'] = (namespace) => this.#parts.instances.countInstances(namespace);
  readonly pruneInstances: Store['pruneInstances'] = (seenBefore) => this.#parts.instances.pruneInstances(seenBefore);
  readonly recordRelayReceipts: Store['recordRelayReceipts'] = (receipts) =>
    this.#parts.instances.recordRelayReceipts(receipts);
  readonly listRelayReceipts: Store['listRelayReceipts'] = (namespace, seq) =>
    this.#parts.instances.listRelayReceipts(namespace, seq);
  readonly removeInstances: Store['removeInstances'] = (namespace, instanceIds, reporter) =>
    this.#parts.instances.removeInstances(namespace, instanceIds, reporter);

  // --- flag usage ---
  readonly recordFlagEvaluations: Store['recordFlagEvaluations'] = (counts) =>
    this.#parts.flagUsage.recordFlagEvaluations(counts);
  readonly readFlagEvaluations: Store['readFlagEvaluations'] = (namespace, sinceHour) =>
    this.#parts.flagUsage.readFlagEvaluations(namespace, sinceHour);
  readonly pruneFlagEvaluations: Store['pruneFlagEvaluations'] = (beforeHour) =>
    this.#parts.flagUsage.pruneFlagEvaluations(beforeHour);
  readonly forgetFlagEvaluations: Store['forgetFlagEvaluations'] = (namespace, keep) =>
    this.#parts.flagUsage.forgetFlagEvaluations(namespace, keep);

  // --- signing keys ---
  readonly listSigningKeys: Store['listSigningKeys'] = () => this.#parts.signingKeys.listSigningKeys();
  readonly addSigningKey: Store['addSigningKey'] = (key, audit) => this.#parts.signingKeys.addSigningKey(key, audit);

  // --- access ---
  readonly createToken: Store['createToken'] = (token, audit) => this.#parts.access.createToken(token, audit);
  readonly findToken: Store['findToken'] = (tokenHash) => this.#parts.access.findToken(tokenHash);
  readonly listTokens: Store['listTokens'] = () => this.#parts.access.listTokens();
  readonly revokeToken: Store['revokeToken'] = (id, at, audit) => this.#parts.access.revokeToken(id, at, audit);
  readonly rotateToken: Store['rotateToken'] = (id, successor, expiresAt, audit) =>
    this.#parts.access.rotateToken(id, successor, expiresAt, audit);
  readonly createAccessKey: Store['createAccessKey'] = (key, audit) => this.#parts.access.createAccessKey(key, audit);
  readonly findAccessKey: Store['findAccessKey'] = (tokenId) => this.#parts.access.findAccessKey(tokenId);

  // --- snapshots ---
  readonly createSnapshot: Store['createSnapshot'] = (record, items, audit) =>
    this.#parts.snapshots.createSnapshot(record, items, audit);
  readonly getSnapshot: Store['getSnapshot'] = (namespace, name) => this.#parts.snapshots.getSnapshot(namespace, name);
  readonly listSnapshots: Store['listSnapshots'] = (query) => this.#parts.snapshots.listSnapshots(query);
  readonly updateSnapshot: Store['updateSnapshot'] = (namespace, name, patch, ifEtag, audit) =>
    this.#parts.snapshots.updateSnapshot(namespace, name, patch, ifEtag, audit);
  readonly readSnapshotItems: Store['readSnapshotItems'] = (query) => this.#parts.snapshots.readSnapshotItems(query);

  // --- settings ---
  readonly claimSetting: Store['claimSetting'] = (name, value) => this.#parts.settings.claimSetting(name, value);
  readonly putSetting: Store['putSetting'] = (name, value, audit) =>
    this.#parts.settings.putSetting(name, value, audit);
  readonly getSetting: Store['getSetting'] = (name) => this.#parts.settings.getSetting(name);

  // --- change control ---
  readonly saveControlRecord: Store['saveControlRecord'] = (record, expectedVersion, audit) =>
    this.#parts.control.saveControlRecord(record, expectedVersion, audit);
  readonly getControlRecord: Store['getControlRecord'] = (kind, id) => this.#parts.control.getControlRecord(kind, id);
  readonly listControlRecords: Store['listControlRecords'] = (query) => this.#parts.control.listControlRecords(query);

  // --- audit ---
  readonly appendAudit: Store['appendAudit'] = (input) => this.#parts.audit.appendAudit(input);
  readonly listAudit: Store['listAudit'] = (query) => this.#parts.audit.listAudit(query);
}
