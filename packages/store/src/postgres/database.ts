import pg from 'pg';
import type { Clock } from '@herald/core';
import { storeClosed } from '../rules.js';
import type { PostgresAuditChain } from './audit-chain.js';
import { clientConfig, defaultTimeouts, isConnectionError, toStoreError, type PostgresTimeouts } from './connection.js';
import { applyPostgresMigrations } from './migrations.js';
import type { PostgresRecordCache } from './record-cache.js';

/**
 * What every part of the PostgreSQL store works with: the database, the audit chain it appends to,
 * the clock, and the records kept in memory.
 */
export interface PostgresContext {
  db: PostgresDatabase;
  audit: PostgresAuditChain;
  clock: Clock;
  records: PostgresRecordCache;
}

export interface PostgresDatabaseOptions {
  connectionString: string;
  poolSize?: number | undefined;
  connectionTimeoutMs?: number | undefined;
  statementTimeoutMs?: number | undefined;
}

/**
 * The connection pool and how every call uses it: reads on the pool, transactions on one pooled
 * connection, connection failures mapped to `unavailable` (retryAfter 1), broken connections
 * destroyed rather than reused, and the calls in flight tracked so that close can wait for them.
 */
export class PostgresDatabase {
  readonly #pool: pg.Pool;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;
  /** The configuration of the pool's connections, for a dedicated one (the change feed's LISTEN). */
  readonly clientConfig: pg.ClientConfig;

  private constructor(pool: pg.Pool, config: pg.ClientConfig) {
    this.#pool = pool;
    this.clientConfig = config;
  }

  /** Connects and migrates the schema (safely, even when several nodes start at once). */
  static async open(options: PostgresDatabaseOptions): Promise<PostgresDatabase> {
    const timeouts: PostgresTimeouts = {
      connectionTimeoutMs: options.connectionTimeoutMs ?? defaultTimeouts.connectionTimeoutMs,
      statementTimeoutMs: options.statementTimeoutMs ?? defaultTimeouts.statementTimeoutMs,
    };
    const config = clientConfig(options.connectionString, timeouts, 'herald');
    const pool = new pg.Pool({ ...config, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle connection whose backend dies emits here; the pool has already dropped it.
    pool.on('error', () => undefined);
    // A new connection is handed out with no 'error' listener of the pool's, and the one withClient
    // adds comes a microtask later: a FATAL (pg_terminate_backend) in the same socket read as the end
    // of the handshake would crash the process. Query failures still surface through the queries.
    pool.on('connect', (client) => client.on('error', ignore));
    try {
      const client = await checkOut(pool);
      try {
        await applyPostgresMigrations(client);
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      } finally {
        client.off('error', ignore);
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw toStoreError(error);
    }
    return new PostgresDatabase(pool, config);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** From now on reads and transactions are refused with `shutting_down`; what is in flight goes on. */
  markClosed(): void {
    this.#closed = true;
  }

  /** Runs a read on the pool, mapping connection failures to `unavailable`. */
  async read<T>(work: (pool: pg.Pool) => Promise<T>): Promise<T> {
    if (this.#closed) throw storeClosed();
    return this.#track(work(this.#pool));
  }

  /** Runs `work` in one transaction on one pooled connection. */
  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw storeClosed();
    return this.#track(
      this.withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await work(client);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          if (!isConnectionError(error)) await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    );
  }

  /**
   * Lends a pooled connection; one that met a connection error is destroyed rather than reused.
   * Not refused after close: the group commit writes the commits it accepted before.
   */
  async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await checkOut(this.#pool);
    } catch (error) {
      throw toStoreError(error);
    }
    try {
      const result = await work(client);
      client.off('error', ignore);
      client.release();
      return result;
    } catch (error) {
      client.off('error', ignore);
      client.release(isConnectionError(error) ? (error as Error) : undefined);
      throw error;
    }
  }

  /** A single statement on the pool, untracked and unchecked (for lookups that must work while closing). */
  query<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>(sql, values);
  }

  /** Resolves when every read and transaction in flight has settled. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  /** Closes every pooled connection. */
  async end(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }

  async #track<T>(promise: Promise<T>): Promise<T> {
    this.#inflight.add(promise);
    try {
      return await promise;
    } catch (error) {
      throw toStoreError(error);
    } finally {
      this.#inflight.delete(promise);
    }
  }
}

/** What runs a statement: the pool, one connection, or the database. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** Reads a store-wide counter of table `meta`; `forUpdate` locks its row to the end of the transaction. */
export async function meta(
  queryable: Queryable,
  name: 'revision' | 'compacted_revision',
  forUpdate = false,
): Promise<number> {
  const { rows } = await queryable.query<{ value: number }>(
    `SELECT value FROM meta WHERE name = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [name],
  );
  return (rows[0] as { value: number }).value;
}

function ignore(): void {}

/**
 * Checks a connection out of the pool with an 'error' listener attached in the same tick as the
 * pool hands it over. The pool removes its own listener at that moment, and a backend terminated
 * during connection setup can deliver its FATAL error in the same packet as ReadyForQuery: with
 * `await pool.connect()` that error would be emitted before our listener is attached (the promise
 * resolves a microtask later), and an 'error' event without a listener kills the process.
 * The caller removes `ignore` before releasing the connection.
 */
function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error || !client) {
        reject(error ?? new Error('the pool returned no connection'));
        return;
      }
      client.on('error', ignore);
      resolve(client);
    });
  });
}
