import type { Clock } from '@herald/core';

/**
 * Paces the admission of watch streams: a reconnect storm (every instance of a fleet coming back
 * after a restart) is admitted at the rate the node can attach streams, and the rest are told
 * which later second to come back in (Retry-After) rather than refused into a longer backoff.
 *
 * A token bucket of `perSecond` admissions (it holds one second's worth) admits at once. Past it,
 * each watcher is booked into the earliest coming second that holds fewer than `perSecond`
 * bookings, so the Retry-After handed out grows with the queue and each second brings back no
 * more than the node admits in it; the bookings of a second are forgotten once it has passed.
 * Time comes from `clock`, so tests drive it.
 */
export class WatchAdmission {
  readonly #perSecond: number;
  readonly #maxWaitSeconds: number;
  readonly #clock: Clock;
  #tokens: number;
  #refilledAt: number;
  /** Bookings per second to come, by absolute second (ms since the epoch / 1000, floored). */
  readonly #booked = new Map<number, number>();

  constructor(options: { perSecond: number; clock: Clock; maxWaitSeconds?: number }) {
    if (!Number.isFinite(options.perSecond) || options.perSecond <= 0)
      throw new RangeError('watch admissions per second must be a positive number');
    this.#perSecond = options.perSecond;
    this.#maxWaitSeconds = Math.max(1, Math.floor(options.maxWaitSeconds ?? 60));
    this.#clock = options.clock;
    this.#tokens = options.perSecond;
    this.#refilledAt = options.clock.now();
  }

  get perSecond(): number {
    return this.#perSecond;
  }

  /** Undefined: admitted now. A number: the seconds after which to come back (Retry-After). */
  admit(): number | undefined {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#perSecond, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return undefined;
    }
    return this.book();
  }

  /**
   * Books a watcher into the earliest coming second with room, without admitting it now (a node
   * still starting, whose first second after it is ready goes to the watches it holds). Returns
   * the seconds to wait (Retry-After).
   */
  book(): number {
    const second = Math.floor(this.#clock.now() / 1000);
    for (const booked of this.#booked.keys()) if (booked <= second) this.#booked.delete(booked);
    for (let wait = 1; wait <= this.#maxWaitSeconds; wait += 1) {
      const count = this.#booked.get(second + wait) ?? 0;
      if (count < this.#perSecond || wait === this.#maxWaitSeconds) {
        this.#booked.set(second + wait, count + 1);
        return wait;
      }
    }
    return this.#maxWaitSeconds;
  }

  /** Watchers told to come back later and not yet due. */
  get queued(): number {
    const second = Math.floor(this.#clock.now() / 1000);
    let total = 0;
    for (const [booked, count] of this.#booked) if (booked > second) total += count;
    return total;
  }
}
