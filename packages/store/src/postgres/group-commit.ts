import { HeraldError, type AuditInput, type CommitRequest } from '@herald/core';
import { storeClosed } from '../rules.js';
import type { CommitResult } from '../types.js';
import type { PostgresChangeFeed } from './change-feed.js';
import { commitRound, type Outcome, type PendingCommit } from './commit-round.js';
import { isConnectionError, toStoreError } from './connection.js';
import type { PostgresContext } from './database.js';
import { RoundBasisMemory } from './round-basis.js';

/**
 * The queue of commits in PostgreSQL. Because revisions serialise commit tails across the whole
 * cluster (see `commit-round.ts`), each commit costs at least one WAL flush that nothing else can
 * overlap. So, like the SQLite adapter, commits that arrive while a round is running are queued and
 * written together in the next round: one transaction, one flush. Should the round's transaction
 * fail for another reason than the connection (a bug, a constraint), its commits are retried one per
 * transaction so only the culprit fails.
 */
export class PostgresGroupCommit {
  readonly #context: PostgresContext;
  readonly #feed: PostgresChangeFeed;
  readonly #maxChangesPerBatch: number;
  /** What this node's last round was decided on and wrote: the next one's basis while it holds. */
  readonly #basis = new RoundBasisMemory();
  #queue: PendingCommit[] = [];
  #draining: Promise<void> | undefined;
  #drainScheduled = false;

  constructor(context: PostgresContext, feed: PostgresChangeFeed, maxChangesPerBatch: number) {
    this.#context = context;
    this.#feed = feed;
    this.#maxChangesPerBatch = maxChangesPerBatch;
    // Another node's round moves this node's basis along, so its next round need not find it stale.
    feed.onChange((change) => {
      if (change.kind === 'commits') this.#basis.observe(change);
    });
  }

  commit(request: CommitRequest, audit: AuditInput, limits: { maxEntriesPerNamespace: number }): Promise<CommitResult> {
    if (this.#context.db.closed) return Promise.reject(storeClosed());
    return new Promise<CommitResult>((resolve, reject) => {
      this.#queue.push({ request, audit, maxEntriesPerNamespace: limits.maxEntriesPerNamespace, resolve, reject });
      if (!this.#drainScheduled && this.#draining === undefined) {
        // Wait one turn of the event loop so that commits arriving together share a round.
        this.#drainScheduled = true;
        setImmediate(() => this.#startDrain());
      }
    });
  }

  /** Resolves once every commit accepted before the call has settled; for operations ordered after them. */
  async acceptedSoFar(): Promise<void> {
    if (this.#context.db.closed) throw storeClosed();
    const last = this.#queue.at(-1);
    if (last === undefined && this.#draining === undefined) return;
    await new Promise<void>((resolve) => {
      if (last === undefined) {
        void this.#draining?.then(() => resolve());
        return;
      }
      const { resolve: done, reject: failed } = last;
      last.resolve = (result) => {
        done(result);
        resolve();
      };
      last.reject = (error) => {
        failed(error);
        resolve();
      };
    });
  }

  /** Writes the commits already accepted (at close: no new ones are accepted by then). */
  async finish(): Promise<void> {
    if (this.#queue.length > 0 && this.#draining === undefined) this.#startDrain();
    await this.#draining;
  }

  #startDrain(): void {
    this.#drainScheduled = false;
    if (this.#draining !== undefined || this.#queue.length === 0) return;
    this.#draining = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#runRound(this.#takeRound());
    } finally {
      // Cleared in the same step as the loop saw an empty queue: a commit arriving after this
      // schedules a new drain, one arriving before it was taken by the loop.
      this.#draining = undefined;
    }
  }

  #takeRound(): PendingCommit[] {
    let changes = 0;
    let count = 0;
    for (const item of this.#queue) {
      changes += item.request.changes.length;
      if (count > 0 && changes > this.#maxChangesPerBatch) break;
      count += 1;
    }
    return this.#queue.splice(0, count);
  }

  async #runRound(round: PendingCommit[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.#context.db.withClient((client) => commitRound(this.#context, this.#basis, client, round));
    } catch (error) {
      if (round.length > 1 && !(error instanceof HeraldError) && !isConnectionError(error)) {
        // Nothing was written; find the commit that broke the round by trying each on its own.
        for (const item of round) await this.#runRound([item]);
        return;
      }
      const failure = toStoreError(error);
      for (const item of round) item.reject(failure);
      return;
    }
    let newest = 0;
    round.forEach((item, i) => {
      const outcome = outcomes[i] as Outcome;
      if (outcome.ok) {
        newest = Math.max(newest, outcome.result.revision);
        item.resolve(outcome.result);
      } else {
        item.reject(outcome.error);
      }
    });
    if (newest > 0) this.#feed.deliver(newest);
  }
}
