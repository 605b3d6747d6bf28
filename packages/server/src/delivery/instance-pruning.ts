import type { TimerClock } from '@herald/core';
import type { Leadership, Store } from '@herald/store';
import type { InstanceRegistry } from './instance-registry.js';

/**
 * Deletes the instance records not seen within the TTL, so a fleet that churns (or a token that
 * invents ids) cannot grow the store without end. It runs on every node: the leader deletes, and
 * every node then forgets what its registry remembered, so ids freed are free everywhere.
 */
export class InstancePruning {
  readonly #store: Pick<Store, 'pruneInstances'>;
  readonly #registry: InstanceRegistry;
  readonly #leadership: Pick<Leadership, 'isLeader'>;
  readonly #clock: TimerClock;
  readonly #ttlMs: number;
  readonly #onPruned: (count: number) => void;
  readonly #onError: (error: unknown) => void;
  #timer: unknown;
  #running: Promise<void> | undefined;

  constructor(deps: {
    store: Pick<Store, 'pruneInstances'>;
    registry: InstanceRegistry;
    leadership: Pick<Leadership, 'isLeader'>;
    clock: TimerClock;
    ttlMs: number;
    onPruned: (count: number) => void;
    onError: (error: unknown) => void;
  }) {
    this.#store = deps.store;
    this.#registry = deps.registry;
    this.#leadership = deps.leadership;
    this.#clock = deps.clock;
    this.#ttlMs = deps.ttlMs;
    this.#onPruned = deps.onPruned;
    this.#onError = deps.onError;
  }

  start(intervalMs: number): void {
    this.#timer ??= this.#clock.setInterval(() => void this.prune(), intervalMs);
  }

  /** One pruning; overlapping calls share the one in progress. */
  prune(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #pass(): Promise<void> {
    try {
      if (this.#leadership.isLeader())
        this.#onPruned(await this.#store.pruneInstances(this.#clock.now() - this.#ttlMs));
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#registry.forget();
    }
  }
}
