import type { NamespaceRecord } from '../types.js';
import type { SqliteDatabase } from './database.js';

/** How long an answer from memory may rest on a `data_version` read, at most (see below). */
const recheckMs = 1;

/**
 * How many namespace records and settings are remembered, each: past it the oldest is forgotten.
 * Generous for a deployment's namespaces; a bound because names requested are the callers'.
 */
const maxRemembered = 10_000;

/**
 * The records that nearly every request reads, kept in memory: namespace records, settings and the
 * current revision. A commit reads its namespace and the change-control settings before it is
 * queued, and a watch its namespace and the revision. From the file a namespace read costs 2 µs
 * in a tight loop (0.9 µs from here, the `data_version` check included), but 24 µs per watch in
 * a reconnect storm's profile, with cold caches: 7 % of the node's CPU.
 *
 * Exact, not a cache with a lifetime. What this store writes, it applies: a record is remembered
 * only from a read outside a transaction (inside one, every read goes to the file: what it sees
 * may not be committed yet), and forgotten by every transaction that writes it, so a rolled-back
 * write cannot leave behind a record that never was; a commit batch's new revisions and entry
 * counts are applied after its COMMIT returned (better-sqlite3 is synchronous, so no read runs
 * between a transaction's write and its end). What anything else writes to the file (it should
 * not, while the server runs: another server on the same folder, a manual fix with `sqlite3`) is
 * caught by SQLite's `data_version`, read at most once a millisecond: when another connection has
 * committed, everything is forgotten, so what it wrote is answered within a millisecond. Not at
 * every read: reading it starts a read transaction (two `fcntl` calls on the shared-memory file),
 * 5–9 µs after a commit's fsync and 16 µs in a reconnect storm, and a commit's request read it four
 * times (its namespace and three change-control settings), 7 % of the request's CPU with 16
 * writers; a storm's watches once each, 7 % of the restarted node's CPU.
 */
export class SqliteRecordMemory {
  readonly #db: SqliteDatabase;
  readonly #namespaces = new Map<string, NamespaceRecord>();
  readonly #settings = new Map<string, string | undefined>();
  #revision: number | undefined;
  #dataVersion: number | undefined;
  readonly #now: () => number;
  /** When `data_version` was last read, by `#now`. */
  #checkedAt = Number.NEGATIVE_INFINITY;

  /**
   * `now`: a monotonic clock in milliseconds. Not the store's clock: this bounds how old an answer
   * may be, for I/O, not a time anyone sees, and a manual clock in a test would stop the checks.
   */
  constructor(db: SqliteDatabase, now: () => number = () => performance.now()) {
    this.#db = db;
    this.#now = now;
  }

  /** Whether memory may answer: open, outside a transaction, and nothing else wrote the file by the last millisecond. */
  #usable(): boolean {
    this.#db.assertOpen();
    if (this.#db.inTransaction) return false;
    const now = this.#now();
    if (now - this.#checkedAt < recheckMs) return true;
    this.#checkedAt = now;
    const version = this.#db.dataVersion();
    if (version !== this.#dataVersion) {
      this.#dataVersion = version;
      this.#namespaces.clear();
      this.#settings.clear();
      this.#revision = undefined;
    }
    return true;
  }

  /** The namespace's record (a copy: callers may change it), read from the file the first time. */
  namespace(name: string, load: () => NamespaceRecord | undefined): NamespaceRecord | undefined {
    if (!this.#usable()) return load();
    const remembered = this.#namespaces.get(name);
    if (remembered) return { ...remembered };
    const record = load();
    // A namespace that does not exist is not remembered: its name is the caller's, not the store's.
    if (record) remember(this.#namespaces, name, { ...record });
    return record;
  }

  setting(name: string, load: () => string | undefined): string | undefined {
    if (!this.#usable()) return load();
    if (this.#settings.has(name)) return this.#settings.get(name);
    const value = load();
    remember(this.#settings, name, value);
    return value;
  }

  /** The newest committed revision. */
  revision(load: () => number): number {
    if (!this.#usable()) return load();
    this.#revision ??= load();
    return this.#revision;
  }

  /** Called inside each transaction that writes the namespace's row. */
  forgetNamespace(name: string): void {
    this.#namespaces.delete(name);
  }

  /** Called inside each transaction that writes the setting. */
  forgetSetting(name: string): void {
    this.#settings.delete(name);
  }

  /** A commit batch's COMMIT returned: each namespace it wrote is now at `revision` with `entryCount` live entries. */
  committed(changed: Iterable<[namespace: string, revision: number, entryCount: number]>, revision: number): void {
    for (const [name, namespaceRevision, entryCount] of changed) {
      const remembered = this.#namespaces.get(name);
      if (remembered) this.#namespaces.set(name, { ...remembered, revision: namespaceRevision, entryCount });
    }
    if (this.#revision !== undefined) this.#revision = Math.max(this.#revision, revision);
  }
}

function remember<T>(map: Map<string, T>, name: string, value: T): void {
  if (map.size >= maxRemembered && !map.has(name)) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(name, value);
}
