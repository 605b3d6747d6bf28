export { SqliteStore } from './sqlite/sqlite-store.js';
export type { SqliteStoreOptions } from './sqlite/sqlite-store.js';
export type {
  CommitQuery,
  CommitResult,
  CompactionResult,
  EntryQuery,
  HistoryQuery,
  NamespaceRecord,
  Store,
  TokenRecord,
} from './types.js';
