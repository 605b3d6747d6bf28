/** Time as Herald sees it. Injected everywhere time matters, so tests control it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/**
 * A clock that also schedules: deadlines, intervals and backoff go through it, so tests run them
 * on a manual clock instead of patching globals. Handles are opaque: only the clock that made one
 * can clear it.
 */
export interface TimerClock extends Clock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/**
 * Date.now and the global timers. The timers never keep the process alive on their own: what
 * they serve (a socket, a listening server) does, and a forgotten one must not hang a shutdown.
 */
export const systemClock: TimerClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms).unref(),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
  setInterval: (callback: () => void, ms: number): unknown => setInterval(callback, ms).unref(),
  clearInterval: (handle: unknown): void => clearInterval(handle as ReturnType<typeof setInterval>),
});

/** A clock that moves only when told to; its timers fire, in order, as it moves. For tests and simulations. */
export class ManualClock implements TimerClock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; every: number | undefined; callback: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    return this.#add(callback, ms, undefined);
  }

  clearTimeout(handle: unknown): void {
    if (typeof handle === 'number') this.#timers.delete(handle);
  }

  setInterval(callback: () => void, ms: number): unknown {
    return this.#add(callback, ms, Math.max(1, ms));
  }

  clearInterval(handle: unknown): void {
    this.clearTimeout(handle);
  }

  /** Moves time on, firing the timers that fall due on the way, soonest first. */
  advance(milliseconds: number): void {
    const until = this.#now + milliseconds;
    for (;;) {
      let due: [number, { at: number; every: number | undefined; callback: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= until && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      const [id, timer] = due;
      this.#now = Math.max(this.#now, timer.at);
      if (timer.every === undefined) this.#timers.delete(id);
      else timer.at += timer.every;
      timer.callback();
    }
    this.#now = until;
  }

  /** Jumps to a time; forwards, the timers due on the way fire as with advance(). */
  set(milliseconds: number): void {
    if (milliseconds > this.#now) this.advance(milliseconds - this.#now);
    else this.#now = milliseconds;
  }

  #add(callback: () => void, ms: number, every: number | undefined): number {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), every, callback });
    return id;
  }
}
