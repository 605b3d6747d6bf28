import { HeraldError, systemClock, type TimerClock } from '@herald/core';
import type { Store } from '@herald/store';

/**
 * Read-your-writes across nodes: a client that presents the revision it wrote
 * (`Herald-Min-Revision`) is answered only once this node has seen that revision, or after a
 * short wait with 503 `unavailable` so it retries (possibly on another node). The store is asked
 * first; change notifications wake waiters without polling.
 */
export class RevisionGate {
  readonly #store: Store;
  readonly #maxWaitMs: number;
  readonly #clock: TimerClock;
  #known = 0;
  readonly #waiters = new Set<{ revision: number; wake: () => void }>();
  readonly #unwatch: () => void;

  /** `clock` times the waits out. */
  constructor(store: Store, maxWaitMs: number, clock: TimerClock = systemClock) {
    this.#store = store;
    this.#clock = clock;
    this.#maxWaitMs = maxWaitMs;
    this.#unwatch = store.watchRevisions((revision) => this.#advance(revision));
  }

  async waitFor(revision: number): Promise<void> {
    if (revision <= this.#known) return;
    this.#advance(await this.#store.currentRevision());
    if (revision <= this.#known) return;
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        revision,
        wake: () => {
          this.#clock.clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = this.#clock.setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(
          new HeraldError('unavailable', `this node has not seen revision ${revision} yet (it is at ${this.#known})`, {
            retryAfter: 1,
          }),
        );
      }, this.#maxWaitMs);
      this.#waiters.add(waiter);
    });
  }

  close(): void {
    this.#unwatch();
    for (const waiter of this.#waiters) waiter.wake();
  }

  #advance(revision: number): void {
    if (revision <= this.#known) return;
    this.#known = revision;
    for (const waiter of this.#waiters) if (waiter.revision <= revision) waiter.wake();
  }
}
