/**
 * Reconnect delays: exponential backoff with full jitter, as docs/protocol.md prescribes:
 * `sleep = random(0, min(cap, base × 2^attempt))`. The attempt count resets once a stream has
 * delivered its `hello`. When the server shed load with 503 + Retry-After, the client waits at
 * least that long, plus the jittered delay, so that a fleet told "30 s" does not come back in the
 * same millisecond.
 *
 * While it waits, the client probes its endpoint's `/readyz` every `probeIntervalMs` (jittered
 * between half and one and a half times it), and a ready answer ends the wait: a control plane
 * back after a long outage is not left waiting for backoffs that grew to the cap while it was
 * down, and a fleet probes at a bounded rate (one cheap GET per client per interval) meanwhile.
 */

export interface BackoffOptions {
  /** Milliseconds; the first ceiling. Default 500. */
  baseMs?: number;
  /** Milliseconds; no jittered delay exceeds it. Default 30,000. */
  capMs?: number;
  /** Longest Retry-After honoured, in milliseconds (a bound against a misconfigured server). Default 300,000. */
  maxRetryAfterMs?: number;
  /**
   * Milliseconds between readiness probes while waiting to reconnect (jittered ±50 %); a ready
   * answer ends the wait. Default 2,000; 0 turns probing off.
   */
  probeIntervalMs?: number;
  /** A number in [0, 1); Math.random by default. Injected by tests. */
  random?: () => number;
}

export const defaultBackoff = Object.freeze({
  baseMs: 500,
  capMs: 30_000,
  maxRetryAfterMs: 300_000,
  probeIntervalMs: 2_000,
});

export class Backoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #random: () => number;
  readonly probeIntervalMs: number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? defaultBackoff.baseMs;
    this.#capMs = options.capMs ?? defaultBackoff.capMs;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? defaultBackoff.maxRetryAfterMs;
    this.#random = options.random ?? Math.random;
    this.probeIntervalMs = options.probeIntervalMs ?? defaultBackoff.probeIntervalMs;
    for (const [name, value] of [
      ['baseMs', this.#baseMs],
      ['capMs', this.#capMs],
      ['maxRetryAfterMs', this.#maxRetryAfterMs],
      ['probeIntervalMs', this.probeIntervalMs],
    ] as const) {
      if (!Number.isFinite(value) || value < 0) throw new RangeError(`backoff ${name} must be a finite number >= 0`);
    }
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The ceiling of the next delay: min(cap, base × 2^attempt). */
  ceiling(): number {
    // 2 ** attempt overflows to Infinity after ~1000 attempts; min() keeps that harmless.
    return Math.min(this.#capMs, this.#baseMs * 2 ** this.#attempt);
  }

  /** The delay before the next attempt, in milliseconds, and counts the attempt. */
  next(retryAfterMs?: number): number {
    const r = this.#random();
    const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
    const jittered = Math.floor(unit * this.ceiling());
    this.#attempt += 1;
    if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0) return jittered;
    return Math.min(retryAfterMs, this.#maxRetryAfterMs) + jittered;
  }

  /** A delay within the first ceiling (random(0, base)), not counted as an attempt. */
  jitter(): number {
    const r = this.#random();
    const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
    return Math.floor(unit * Math.min(this.#capMs, this.#baseMs));
  }

  /** The delay before the next readiness probe while waiting: random(0.5, 1.5) × probeIntervalMs. */
  probeDelay(): number {
    const r = this.#random();
    const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
    return Math.floor((0.5 + unit) * this.probeIntervalMs);
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/**
 * Parses an HTTP Retry-After value (delta-seconds or an HTTP-date) into milliseconds from `now`;
 * undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]+$/u.test(text)) return Number(text) * 1000;
  if (!/[a-z]/iu.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
