import type { TimerClock } from '@herald/core';
import type { Store, Leadership } from '@herald/store';
import type { ObservationWindows } from './observation-windows.js';
import type { RolloutService } from './rollout-service.js';

/** The share of a node's time the controller's passes may take at most. */
const maxBusyShare = 0.25;
/** The longest pause after a pass, however long the pass took. */
const maxPauseMs = 10_000;

/**
 * Moves active rollouts through their waves. It runs on every node but acts only on the leader,
 * so exactly one node decides at a time; versioned saves make a deposed leader's late write fail
 * rather than overwrite its successor's.
 *
 * It records, per rollout, its unbroken run of observations (ObservationWindows): a restart, a
 * new leader, or a pass that could not read the rollouts for longer than the allowed gap starts a
 * new window, and time outside a window is never bake.
 */
export class RolloutController {
  readonly #store: Store;
  readonly #service: RolloutService;
  readonly #leadership: Leadership;
  readonly #onError: (error: unknown) => void;
  readonly #clock: TimerClock;
  #timer: unknown;
  #running: Promise<void> | undefined;
  #maxGapMs = 0;
  /** No pass before this (clock ms): see #paced. */
  #nextPassAt = 0;
  /** The spacing the last pass's duration imposes, so an observation gap allows for it. */
  #spacingMs = 0;
  readonly #windows: ObservationWindows;
  readonly #onPass: (durationMs: number) => void;

  constructor(deps: {
    store: Store;
    service: RolloutService;
    leadership: Leadership;
    clock: TimerClock;
    windows: ObservationWindows;
    onError: (error: unknown) => void;
    /** Told how long each pass took (the controller's duration histogram). */
    onPass?: (durationMs: number) => void;
  }) {
    this.#onPass = deps.onPass ?? (() => undefined);
    this.#windows = deps.windows;
    this.#clock = deps.clock;
    this.#store = deps.store;
    this.#service = deps.service;
    this.#leadership = deps.leadership;
    this.#onError = deps.onError;
  }

  /** Ticks every `tickMs`; observations further apart than `maxGapMs` are a gap in observation. */
  start(tickMs: number, maxGapMs: number): void {
    this.#maxGapMs = maxGapMs;
    this.#timer ??= this.#clock.setInterval(() => void this.#tick(), tickMs);
  }

  /** One pass over the active rollouts; overlapping calls share the pass in progress. */
  #tick(): Promise<void> {
    if (this.#running === undefined && this.#clock.now() < this.#nextPassAt) return Promise.resolve();
    this.#running ??= this.#paced().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /**
   * A pass, then a pause in proportion to what it cost: a pass reads every instance record of
   * each rolling namespace (100,000 of them take a good part of a second), and the controller
   * must not take more than a quarter of the node's time from the requests it serves. The pause
   * widens the gap an observation may have (it is the controller's choice, not a lapse).
   */
  async #paced(): Promise<void> {
    const started = this.#clock.now();
    try {
      await this.#pass();
    } finally {
      const ended = this.#clock.now();
      const durationMs = Math.max(0, ended - started);
      // A pass that waited (a metric query, a slow store) was not busy all along: the pause is
      // capped so that waiting never holds the rollouts back for long.
      const pauseMs = Math.min(maxPauseMs, durationMs * (1 / maxBusyShare - 1));
      this.#spacingMs = durationMs + pauseMs;
      this.#nextPassAt = ended + pauseMs;
      this.#onPass(durationMs);
    }
  }

  async close(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #pass(): Promise<void> {
    if (!this.#leadership.isLeader()) {
      // What it observed as leader says nothing about the time it was not.
      this.#windows.clear();
      return;
    }
    try {
      const records = await this.#store.listActiveRollouts();
      this.#windows.keepOnly(new Set(records.map((r) => r.id)));
      for (const record of records) {
        if (!this.#leadership.isLeader()) {
          this.#windows.clear();
          return;
        }
        const window = this.#windows.observe(
          record.id,
          this.#clock.now(),
          Math.max(this.#maxGapMs, 2 * this.#spacingMs),
        );
        try {
          await this.#service.step(record, window);
        } catch (error) {
          this.#onError(error);
        }
      }
    } catch (error) {
      this.#onError(error);
    }
  }
}
