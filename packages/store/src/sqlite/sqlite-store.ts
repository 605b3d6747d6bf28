import { systemClock, type Clock } from '@herald/core';
import { ComposedStore } from '../composed-store.js';
import { RevisionListeners } from '../revision-listeners.js';
import { sqliteAccess } from './access.js';
import { SqliteAuditChain } from './audit-chain.js';
import { sqliteCompaction } from './compaction.js';
import { sqliteFlagUsage } from './flag-usage.js';
import { SqliteDatabase, type SqliteContext } from './database.js';
import { sqliteEntryReads } from './entry-reads.js';
import { SqliteGroupCommit } from './group-commit.js';
import { sqliteInstances } from './instances.js';
import { sqliteNamespaces } from './namespaces.js';
import { SqliteRecordMemory } from './record-memory.js';
import { sqliteReleases } from './releases.js';
import { sqliteRollouts } from './rollouts.js';
import { sqliteControlRecords } from './control-records.js';
import { sqliteSettings } from './settings.js';
import { sqliteSigningKeys } from './signing-keys.js';
import { sqliteSnapshots } from './snapshots.js';

export interface SqliteStoreOptions {
  /** Path of the database file; parent folders are created. */
  path: string;
  clock?: Clock;
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so an acknowledged
 * commit survives a crash of the process and of the machine. Made of parts, one per file of this
 * folder: the database (`database.ts`), the group commit (`group-commit.ts`), the audit chain
 * (`audit-chain.ts`) that every mutation appends to in its own transaction, and one part per area
 * of the Store interface. The change feed is in-process: the group commit tells the listeners.
 */
export class SqliteStore extends ComposedStore {
  readonly kind = 'sqlite' as const;
  readonly #db: SqliteDatabase;
  readonly #commits: SqliteGroupCommit;

  private constructor(db: SqliteDatabase, clock: Clock) {
    const audit = new SqliteAuditChain(db, clock);
    const context: SqliteContext = { db, audit, memory: new SqliteRecordMemory(db), clock };
    const listeners = new RevisionListeners();
    const commits = new SqliteGroupCommit(context, listeners);
    super({
      namespaces: sqliteNamespaces(context, commits),
      commits,
      reads: sqliteEntryReads(context),
      compaction: sqliteCompaction(context, commits),
      releases: sqliteReleases(context, commits),
      rollouts: sqliteRollouts(context),
      instances: sqliteInstances(db),
      flagUsage: sqliteFlagUsage(db),
      signingKeys: sqliteSigningKeys(context),
      access: sqliteAccess(context),
      snapshots: sqliteSnapshots(context),
      settings: sqliteSettings(context),
      control: sqliteControlRecords(context),
      audit,
      feed: { watchRevisions: (listener) => listeners.add(listener) },
    });
    this.#db = db;
    this.#commits = commits;
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(SqliteDatabase.open(options.path), options.clock ?? systemClock);
  }

  /** Writes the commits already accepted, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#db.closed) return;
    this.#commits.flush();
    this.#db.close();
  }
}
