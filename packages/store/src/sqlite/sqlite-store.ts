import { systemClock, type Clock } from '@herald/core';
import { ComposedStore } from '../composed-store.js';
import { RevisionListeners } from '../revision-listeners.js';
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
    const context: SqliteContext = { db, audit, clock };
    const listeners = new RevisionListeners();
    const commits = new SqliteGroupCommit(context, listeners);
    super({
      namespaces: new SqliteNamespaces(context, commits),
      commits,
      reads: new SqliteEntryReads(db),
      compaction: new SqliteCompaction(context, commits),
      releases: new SqliteReleases(context, commits),
      rollouts: new SqliteRollouts(context),
      instances: new SqliteInstances(db),
      signingKeys: new SqliteSigningKeys(context),
      access: new SqliteAccess(context),
      snapshots: new SqliteSnapshots(context),
      settings: new SqliteSettings(context),
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
