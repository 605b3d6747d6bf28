import { systemClock, type TimerClock } from '@herald/core';
import { ComposedStore } from '../composed-store.js';
import { postgresAccess } from './access.js';
import { PostgresAuditChain } from './audit-chain.js';
import { PostgresChangeFeed } from './change-feed.js';
import { postgresCompaction } from './compaction.js';
import { postgresFlagUsage } from './flag-usage.js';
import { PostgresDatabase, type PostgresContext } from './database.js';
import { postgresEntryReads } from './entry-reads.js';
import { PostgresGroupCommit } from './group-commit.js';
import { postgresInstances } from './instances.js';
import { postgresNamespaces } from './namespaces.js';
import { postgresReleases } from './releases.js';
import { postgresRollouts } from './rollouts.js';
import { postgresControlRecords } from './control-records.js';
import { postgresSettings } from './settings.js';
import { postgresSigningKeys } from './signing-keys.js';
import { postgresSnapshots } from './snapshots.js';

export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database`; the database must exist, the schema is migrated at open. */
  connectionString: string;
  clock?: TimerClock;
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
 * The shared store: any number of Herald nodes on one PostgreSQL database. Made of parts, one per
 * file of this folder:
 * - `database.ts`: the pool; every call rejects with `unavailable` (retryAfter 1) when it meets an
 *   unreachable server or a terminated backend, and the pool reconnects when the server is back;
 * - `group-commit.ts` and `commit-round.ts`: commits queued and written together, and the argument
 *   for revisions that are gap-free and never seen out of order by any reader on any node;
 * - `round-basis.ts`: what a node's next round is decided on, remembered from its last one and
 *   moved along by the other nodes' announcements;
 * - `change-feed.ts`: LISTEN/NOTIFY plus a periodic revision check, and the change announcements
 *   that keep `record-cache.ts` (namespace records and settings in memory) true on every node;
 * - `audit-chain.ts`: one hash chain for every node, appended in each mutation's own transaction;
 * - one part per area of the Store interface; writes to a namespace take its advisory lock
 *   (`namespaces.ts`).
 */
export class PostgresStore extends ComposedStore {
  readonly kind = 'postgres' as const;
  readonly #db: PostgresDatabase;
  readonly #feed: PostgresChangeFeed;
  readonly #commits: PostgresGroupCommit;
  #closing: Promise<void> | undefined;

  private constructor(db: PostgresDatabase, options: PostgresStoreOptions) {
    const clock = options.clock ?? systemClock;
    const audit = new PostgresAuditChain(db, clock);
    const feed = new PostgresChangeFeed(db, options.revisionCheckMs ?? 1000, clock);
    const context: PostgresContext = { db, audit, clock, records: feed.records };
    const commits = new PostgresGroupCommit(context, feed, options.maxChangesPerBatch ?? 10_000);
    super({
      namespaces: postgresNamespaces(context, commits),
      commits,
      reads: postgresEntryReads(db),
      compaction: postgresCompaction(context, commits),
      releases: postgresReleases(context, commits),
      rollouts: postgresRollouts(context),
      instances: postgresInstances(db),
      flagUsage: postgresFlagUsage(db),
      signingKeys: postgresSigningKeys(context),
      access: postgresAccess(context),
      snapshots: postgresSnapshots(context),
      settings: postgresSettings(context),
      control: postgresControlRecords(context),
      audit,
      feed,
    });
    this.#db = db;
    this.#feed = feed;
    this.#commits = commits;
  }

  /** Connects, migrates the schema (safely, even when several nodes start at once) and returns the store. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    return new PostgresStore(await PostgresDatabase.open(options), options);
  }

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
