import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '@herald/core';
import { storeClosed } from '../rules.js';
import type { SqliteAuditChain } from './audit-chain.js';
import type { SqliteRecordMemory } from './record-memory.js';
import { sqliteMigrations } from './migrations.js';

/** What every part of the SQLite store works with: the database, the audit chain it appends to, the records kept in memory, the clock. */
export interface SqliteContext {
  db: SqliteDatabase;
  audit: SqliteAuditChain;
  memory: SqliteRecordMemory;
  clock: Clock;
}

/**
 * The SQLite file: opened in WAL mode with synchronous=FULL and migrated, with a cache of prepared
 * statements and the closed flag every call checks. better-sqlite3 is synchronous, so a
 * transaction here is a plain function run between BEGIN IMMEDIATE and COMMIT.
 */
export class SqliteDatabase {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  #closed = false;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  static open(path: string): SqliteDatabase {
    // Least privilege whatever the umask: a folder made here is 0700, and the database (which
    // SQLite's WAL and shared-memory files copy their mode from) 0600, set explicitly.
    const created = mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (created !== undefined) chmodSync(dirname(path), 0o700);
    const db = new Database(path);
    try {
      if (path !== ':memory:') chmodSync(path, 0o600);
      db.pragma('journal_mode = WAL');
      // FULL, not NORMAL: with NORMAL a power loss can roll back commits already acknowledged.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db);
      for (const file of [`${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
    } catch (error) {
      db.close();
      throw error;
    }
    return new SqliteDatabase(db);
  }

  get closed(): boolean {
    return this.#closed;
  }

  assertOpen(): void {
    if (this.#closed) throw storeClosed();
  }

  /** Statements are compiled once and reused: preparing costs more than running most of them. */
  prepare(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `work` in one write transaction (BEGIN IMMEDIATE), all or nothing. */
  transaction<T>(work: () => T): T {
    this.assertOpen();
    return this.#db.transaction(work).immediate();
  }

  /**
   * Runs one transaction-control statement (the group commit's BEGIN, SAVEPOINT, COMMIT), prepared
   * once like the others: `exec` would parse it again at every commit.
   */
  exec(sql: string): void {
    this.prepare(sql).run();
  }

  /**
   * SQLite's `data_version`: it changes when another connection (another process) has committed
   * to the file since this connection last asked, never for this connection's own commits.
   */
  dataVersion(): number {
    return (this.prepare('PRAGMA data_version').get() as { data_version: number }).data_version;
  }

  get inTransaction(): boolean {
    return this.#db.inTransaction;
  }

  meta(name: 'revision' | 'compacted_revision'): number {
    this.assertOpen();
    return (this.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: number }).value;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > sqliteMigrations.length) {
    throw new Error(
      `the database is at schema version ${version}, newer than this Herald (${sqliteMigrations.length}); upgrade Herald`,
    );
  }
  for (let i = version; i < sqliteMigrations.length; i += 1) {
    db.transaction(() => {
      db.exec(sqliteMigrations[i] as string);
      db.pragma(`user_version = ${i + 1}`);
    }).immediate();
  }
}
