import type { TimerClock } from '@herald/core';
import type { Store, Leadership } from '@herald/store';
import type { RolloutService } from './rollout-service.js';

/**
 * Moves active rollouts through their waves. It runs on every node but acts only on the leader,
 * so exactly one node decides at a time; versioned saves make a deposed leader's late write fail
 * rather than overwrite its successor's.
 */
export class RolloutController {
  readonly #store: Store;
  readonly #service: RolloutService;
  readonly #leadership: Leadership;
  readonly #onError: (error: unknown) => void;
  readonly #clock: TimerClock;
  #timer: unknown;
  #running: Promise<void> | undefined;

  constructor(deps: {
    store: Store;
    service: RolloutService;
    leadership: Leadership;
    clock: TimerClock;
    onError: (error: unknown) => void;
  }) {
    this.#clock = deps.clock;
    this.#store = deps.store;
    this.#service = deps.service;
    this.#leadership = deps.leadership;
    this.#onError = deps.onError;
  }

  start(tickMs: number): void {
    this.#timer ??= this.#clock.setInterval(() => void this.#tick(), tickMs);
  }

  /** One pass over the active rollouts; overlapping calls share the pass in progress. */
  #tick(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #pass(): Promise<void> {
    if (!this.#leadership.isLeader()) return;
    try {
      for (const record of await this.#store.listActiveRollouts()) {
        if (!this.#leadership.isLeader()) return;
        try {
          await this.#service.step(record);
        } catch (error) {
          this.#onError(error);
        }
      }
    } catch (error) {
      this.#onError(error);
    }
  }
}
