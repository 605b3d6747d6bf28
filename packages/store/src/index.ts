export { SqliteStore } from './sqlite/sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite/sqlite-store.js';
export { sqliteMigrations } from './sqlite/migrations.js';
export { PostgresStore } from './postgres/postgres-store.js';
export { revisionChannel } from './postgres/change-feed.js';
export type { PostgresStoreOptions } from './postgres/postgres-store.js';
export { migratePostgres, postgresMigrations } from './postgres/migrations.js';
export type { MigrationResult } from './postgres/migrations.js';
export { LocalLeadership } from './leadership.js';
export { relayReceiptsKept } from './types.js';
export type { Leadership, LeadershipState } from './leadership.js';
export { leadershipApplicationName, PostgresLeadership } from './postgres/leadership.js';
export type { PostgresLeadershipOptions } from './postgres/leadership.js';
export type {
  AccessKeyRecord,
  AccessStore,
  AuditStore,
  CommitQuery,
  CommitResult,
  CompactionResult,
  DeliveryStore,
  EntryQuery,
  EntryStore,
  FlagEvaluationCount,
  FlagUsageStore,
  HistoryQuery,
  InstanceQuery,
  InstanceRecord,
  InstanceReport,
  InstanceSummary,
  InstanceViewReport,
  NamespaceRecord,
  RelayReceipt,
  ReleaseKind,
  ReleaseRecord,
  RevisionFeed,
  RolloutRecord,
  ControlRecord,
  ControlKind,
  ControlStore,
  SettingsStore,
  SigningKeyRecord,
  SigningKeyStore,
  SnapshotFilter,
  SnapshotRecord,
  SnapshotStatus,
  SnapshotStore,
  Store,
  StoreLifecycle,
  TokenRecord,
} from './types.js';
