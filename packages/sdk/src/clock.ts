import type { Clock } from '@herald/core';

/**
 * Time and timers as the client sees them: reconnect backoff, heartbeat watchdog and report
 * interval all go through it, so tests can run them on a manual clock instead of patching globals.
 * `setTimeout` returns an opaque handle that only `clearTimeout` of the same clock understands.
 */
export interface ClientClock extends Clock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Date.now and the global timers. The timers keep the process alive, as an open connection does. */
export const systemClientClock: ClientClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

/** A cancellable sleep on a ClientClock: resolves after `ms`, or at once (false) when cancelled. */
export class Sleep {
  readonly promise: Promise<boolean>;
  #resolve!: (completed: boolean) => void;
  #handle: unknown;
  readonly #clock: ClientClock;
  #settled = false;

  constructor(clock: ClientClock, ms: number) {
    this.#clock = clock;
    this.promise = new Promise<boolean>((resolve) => {
      this.#resolve = resolve;
    });
    this.#handle = clock.setTimeout(() => this.#settle(true), ms);
  }

  cancel(): void {
    this.#clock.clearTimeout(this.#handle);
    this.#settle(false);
  }

  #settle(completed: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(completed);
  }
}
