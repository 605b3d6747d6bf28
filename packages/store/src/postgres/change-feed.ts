import type { TimerClock } from '@herald/core';
import pg from 'pg';
import { RevisionListeners } from '../revision-listeners.js';
import { meta, type PostgresDatabase } from './database.js';
import type { Queryable } from './database.js';
import { decodeChange, encodeChange, PostgresRecordCache, type RecordChange } from './record-cache.js';

/** NOTIFY channel: the payload is the newest committed revision. */
export const revisionChannel = 'herald_revisions';
/** NOTIFY channel: a change to records nodes keep in memory (`record-cache.ts`), as JSON. */
export const changeChannel = 'herald_changes';

/** Tells every node (at COMMIT) of a change to records they keep in memory. */
export async function announceChange(queryable: Queryable, change: RecordChange): Promise<void> {
  await queryable.query(`SELECT pg_notify('${changeChannel}', $1)`, [encodeChange(change)]);
}

/**
 * The change feed across nodes: LISTEN on a dedicated connection (opened when the first listener
 * arrives, reconnected when it is lost), with a check of the current revision every
 * `revisionCheckMs` as the safety net under lost notifications. Commits of this node are delivered
 * directly by the group commit, without waiting for their notification. The same connection
 * listens for changes to the records each node keeps in memory, and that cache is used only while it
 * listens.
 */
export class PostgresChangeFeed {
  readonly #db: PostgresDatabase;
  readonly #revisionCheckMs: number;
  readonly #clock: TimerClock;
  readonly #listeners = new RevisionListeners();
  #watching = false;
  #listenerClient: pg.Client | undefined;
  #pollTimer: unknown;
  #reconnectTimer: unknown;
  #polling = false;
  /** The records this node keeps in memory, kept true by the change channel. */
  readonly records: PostgresRecordCache;
  readonly #changeListeners = new Set<(change: RecordChange) => void>();

  constructor(db: PostgresDatabase, revisionCheckMs: number, clock: TimerClock) {
    this.#db = db;
    this.#clock = clock;
    this.#revisionCheckMs = revisionCheckMs;
    this.records = new PostgresRecordCache(() => this.#startWatching());
  }

  watchRevisions(listener: (revision: number) => void): () => void {
    const remove = this.#listeners.add(listener);
    this.#startWatching();
    return remove;
  }

  /** Also tells `listener` of every change announced (by any node, this one included) while the feed listens. */
  onChange(listener: (change: RecordChange) => void): void {
    this.#changeListeners.add(listener);
  }

  /** Tells the listeners of a revision higher than any they were told (dropped once the store is closed). */
  deliver(revision: number): void {
    if (this.#db.closed) return;
    this.#listeners.deliver(revision);
  }

  /** Stops the checks and closes the listening connection; call after the database is marked closed. */
  async close(): Promise<void> {
    this.#clock.clearInterval(this.#pollTimer);
    this.#clock.clearTimeout(this.#reconnectTimer);
    const listener = this.#listenerClient;
    this.#listenerClient = undefined;
    this.records.setListening(false);
    await listener?.end().catch(() => undefined);
  }

  #startWatching(): void {
    if (this.#watching || this.#db.closed) return;
    this.#watching = true;
    void this.#connectListener();
    this.#pollTimer = this.#clock.setInterval(() => void this.#poll(), this.#revisionCheckMs);
  }

  async #connectListener(): Promise<void> {
    if (this.#db.closed) return;
    const client = new pg.Client({ ...this.#db.clientConfig, application_name: 'herald-listen' });
    let lost = false;
    const onLost = (): void => {
      if (lost) return;
      lost = true;
      if (this.#listenerClient === client) {
        this.#listenerClient = undefined;
        this.records.setListening(false);
      }
      void client.end().catch(() => undefined);
      if (!this.#db.closed && this.#reconnectTimer === undefined) {
        this.#reconnectTimer = this.#clock.setTimeout(() => {
          this.#reconnectTimer = undefined;
          void this.#connectListener();
        }, this.#revisionCheckMs);
      }
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      if (message.channel === revisionChannel) this.deliver(Number(message.payload));
      else if (message.channel === changeChannel) {
        const change = decodeChange(message.payload ?? '');
        if (change) {
          this.records.apply(change);
          for (const listener of this.#changeListeners) listener(change);
        } else this.records.reset();
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${revisionChannel}; LISTEN ${changeChannel}`);
    } catch {
      onLost();
      return;
    }
    if (this.#db.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listenerClient = client;
    this.records.setListening(true);
    // Catch up on anything committed while there was no listener.
    void this.#poll();
  }

  /**
   * The safety net under LISTEN/NOTIFY: reads the current revision. It runs on the listening
   * connection when there is one, so that it also proves that connection alive (a query on a dead
   * one fails within the query timeout, and the listener is then reconnected).
   */
  async #poll(): Promise<void> {
    if (this.#polling || this.#db.closed) return;
    this.#polling = true;
    const listener = this.#listenerClient;
    try {
      const revision = await meta(listener ?? this.#db, 'revision');
      this.deliver(revision);
    } catch {
      if (listener && this.#listenerClient === listener)
        listener.emit('error', new Error('the listening connection failed its check'));
    } finally {
      this.#polling = false;
    }
  }
}
