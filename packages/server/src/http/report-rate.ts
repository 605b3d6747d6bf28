import { HeraldError, type Clock } from '@herald/core';

/** Past this many buckets, the full ones (which say nothing a fresh bucket would not) are dropped. */
const sweepAbove = 10_000;
/** Buckets kept at most: past it the oldest go (they start afresh), so made-up reporter ids cannot grow the map without end. */
const maxBuckets = 100_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Reports per credential, as a token bucket: `burst` at once, refilled at `perSecond`. Keyed by
 * whoever a report is bound to (a credential's lineage; for a report a relay forwards, the relay's
 * and its client's), so a relay's clients are limited one by one and never starve each other or
 * the relay. Time comes from the injected clock.
 */
export class ReportRate {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: { perSecond: number; burst: number; clock: Clock }) {
    this.#perSecond = options.perSecond;
    this.#burst = options.burst;
    this.#clock = options.clock;
  }

  /**
   * Takes one report's token from `key`'s bucket; `report_rate_limited` (429), with Retry-After
   * the whole seconds until the next token, when the bucket is empty.
   */
  take(key: string): void {
    const now = this.#clock.now();
    const bucket = this.#refilled(key, now);
    if (bucket.tokens < 1) {
      const waitSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perSecond));
      throw new HeraldError(
        'report_rate_limited',
        `reports of ${key} arrive faster than ${this.#perSecond} per second (burst ${this.#burst}), this node's limit; batch them, or retry after ${waitSeconds} s`,
        { retryAfter: waitSeconds },
      );
    }
    bucket.tokens -= 1;
  }

  #refilled(key: string, now: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= sweepAbove) this.#sweep(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
      return bucket;
    }
    // A clock that went back refills nothing rather than draining.
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (elapsed * this.#perSecond) / 1000);
    bucket.at = Math.max(bucket.at, now);
    return bucket;
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) * this.#perSecond) / 1000 >= this.#burst) this.#buckets.delete(key);
    }
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < maxBuckets) break;
      this.#buckets.delete(key);
    }
  }
}
