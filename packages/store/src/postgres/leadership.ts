import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { systemClock, type TimerClock } from '@herald/core';
import type { Leadership, LeadershipState } from '../leadership.js';
import { advisoryKey64, clientConfig, defaultTimeouts } from './connection.js';
import { applyPostgresMigrations } from './migrations.js';

export interface PostgresLeadershipOptions {
  connectionString: string;
  /** What is being led, e.g. `rollout-controller`; nodes compete per name. */
  name: string;
  clock?: TimerClock;
  /** How often a follower tries to take leadership, and a leader checks its connection; default 1000 ms. */
  retryMs?: number;
  /** Who this node is, recorded with each term it takes; default host:pid:random. */
  holder?: string;
}

/** application_name of the leadership connections, so operators (and tests) can find them. */
export const leadershipApplicationName = 'herald-leadership';

/**
 * Leadership held as a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated
 * connection. PostgreSQL releases the lock when that session ends, however it ends, so a dead or
 * partitioned leader's term ends with its connection; the node learns it the moment its connection
 * reports an error or end (or fails its periodic check), and stops being leader at once.
 *
 * Each new term increments the `fence` of the leadership's row in the `leadership` table, inside
 * the lock, so fences only grow. A leader that was cut off may still believe it leads until its
 * check fails; `confirm()` compares its fence with the row's, which a successor has already bumped.
 */
export class PostgresLeadership implements Leadership {
  readonly #config: pg.ClientConfig;
  readonly #name: string;
  readonly #key: string;
  readonly #clock: TimerClock;
  readonly #retryMs: number;
  readonly #holder: string;
  readonly #listeners = new Set<(state: LeadershipState) => void>();
  #client: pg.Client | undefined;
  #leader = false;
  #fence = 0;
  #started: Promise<void> | undefined;
  #closed = false;
  #timer: unknown;
  #ticking: Promise<void> | undefined;
  #migrated = false;

  constructor(options: PostgresLeadershipOptions) {
    this.#retryMs = options.retryMs ?? 1000;
    this.#config = {
      ...clientConfig(
        options.connectionString,
        { ...defaultTimeouts, statementTimeoutMs: Math.max(2_000, this.#retryMs * 5) },
        leadershipApplicationName,
      ),
      // A leader must notice a dead network quickly, not after the default bound.
      query_timeout: Math.max(2_000, this.#retryMs * 5),
      keepAliveInitialDelayMillis: Math.max(1_000, this.#retryMs),
    };
    this.#name = options.name;
    this.#key = advisoryKey64(`herald:leadership:${options.name}`);
    this.#clock = options.clock ?? systemClock;
    this.#holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  }

  get fence(): number {
    return this.#leader ? this.#fence : 0;
  }

  isLeader(): boolean {
    return this.#leader;
  }

  start(): Promise<void> {
    this.#started ??= this.#tick();
    return this.#started;
  }

  onChange(listener: (state: LeadershipState) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async confirm(): Promise<boolean> {
    const client = this.#client;
    if (!this.#leader || !client) return false;
    try {
      const { rows } = await client.query<{ fence: number }>('SELECT fence FROM leadership WHERE name = $1', [
        this.#name,
      ]);
      return this.#leader && rows[0]?.fence === this.#fence;
    } catch {
      this.#lose(client);
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#ticking;
    const client = this.#client;
    this.#client = undefined;
    if (this.#leader) this.#setState(false, 0);
    // Ending the session releases the lock; an explicit unlock first makes it immediate even if
    // the socket lingers.
    if (client) {
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals ---

  /** One attempt: (re)connect if needed, then take leadership or check that it is still held. */
  #tick(): Promise<void> {
    this.#ticking = (async () => {
      try {
        if (this.#closed) return;
        const client = this.#client ?? (await this.#connect());
        if (!client || this.#closed) return;
        try {
          if (this.#leader) {
            await client.query('SELECT 1');
          } else {
            await this.#tryTake(client);
          }
        } catch {
          this.#lose(client);
        }
      } finally {
        this.#schedule();
      }
    })();
    return this.#ticking;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => void this.#tick(), this.#retryMs);
  }

  async #connect(): Promise<pg.Client | undefined> {
    const client = new pg.Client(this.#config);
    const lost = (): void => this.#lose(client);
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      if (!this.#migrated) {
        await applyPostgresMigrations(client);
        this.#migrated = true;
      }
    } catch {
      this.#lose(client);
      return undefined;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return undefined;
    }
    this.#client = client;
    return client;
  }

  async #tryTake(client: pg.Client): Promise<void> {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [
      this.#key,
    ]);
    if (!rows[0]?.locked) return;
    try {
      const term = await client.query<{ fence: number }>(
        `INSERT INTO leadership (name, fence, holder) VALUES ($1, 1, $2)
         ON CONFLICT (name) DO UPDATE SET fence = leadership.fence + 1, holder = EXCLUDED.holder, acquired_at = now()
         RETURNING fence`,
        [this.#name, this.#holder],
      );
      if (this.#client !== client || this.#closed) return;
      this.#fence = (term.rows[0] as { fence: number }).fence;
      this.#setState(true, this.#fence);
    } catch (error) {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [this.#key]).catch(() => undefined);
      throw error;
    }
  }

  /** The connection is gone or unusable: leadership (if held) ended with it. */
  #lose(client: pg.Client): void {
    if (this.#client === client) this.#client = undefined;
    void client.end().catch(() => undefined);
    if (this.#leader && this.#client === undefined) this.#setState(false, 0);
  }

  #setState(leader: boolean, fence: number): void {
    this.#leader = leader;
    const state: LeadershipState = { leader, fence, since: this.#clock.now() };
    for (const listener of [...this.#listeners]) {
      try {
        listener(state);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
