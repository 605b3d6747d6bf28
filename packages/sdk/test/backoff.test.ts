import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, parseRetryAfter } from '@herald/sdk/internal';

/** A deterministic sequence of "random" numbers in [0, 1). */
function sequence(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

void describe('Backoff (full jitter)', () => {
  void it('draws each delay from [0, min(cap, base × 2^attempt)]', () => {
    const highest = new Backoff({ random: () => 0.999999 });
    const ceilings = [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
    for (const ceiling of ceilings) {
      const delay = highest.next();
      assert.ok(delay <= ceiling && delay >= ceiling - 1, `${delay} near ${ceiling}`);
    }
    const lowest = new Backoff({ random: () => 0 });
    for (let i = 0; i < 10; i += 1) assert.equal(lowest.next(), 0);
  });

  void it('stays within bounds with the real random source, and uses the whole range', () => {
    const backoff = new Backoff();
    const seen: number[] = [];
    for (let round = 0; round < 200; round += 1) {
      backoff.reset();
      for (let attempt = 0; attempt < 8; attempt += 1) {
        const ceiling = Math.min(30_000, 500 * 2 ** attempt);
        const delay = backoff.next();
        assert.ok(Number.isInteger(delay) && delay >= 0 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
        if (attempt === 7) seen.push(delay / ceiling);
      }
    }
    // Full jitter, not "equal jitter": delays near zero and near the ceiling both occur.
    assert.ok(Math.min(...seen) < 0.2 && Math.max(...seen) > 0.8);
  });

  void it('counts attempts and resets to the base ceiling', () => {
    const backoff = new Backoff({ random: () => 0.5 });
    assert.equal(backoff.next(), 250);
    assert.equal(backoff.next(), 500);
    assert.equal(backoff.next(), 1000);
    assert.equal(backoff.attempt, 3);
    backoff.reset();
    assert.equal(backoff.attempt, 0);
    assert.equal(backoff.ceiling(), 500);
    assert.equal(backoff.next(), 250);
  });

  void it('never overflows after very many attempts', () => {
    const backoff = new Backoff({ random: () => 0.5 });
    for (let i = 0; i < 5000; i += 1) backoff.next();
    assert.equal(backoff.next(), 15_000);
  });

  void it('honours Retry-After: at least that long, plus jitter so a shed fleet does not return at once', () => {
    const backoff = new Backoff({ random: sequence([0, 0.5, 0.999]) });
    assert.equal(backoff.next(10_000), 10_000);
    assert.equal(backoff.next(10_000), 10_500);
    const third = backoff.next(10_000);
    assert.ok(third >= 11_990 && third <= 12_000);
    // A Retry-After beyond the bound is clamped (a misconfigured server cannot park the fleet for a day).
    assert.equal(new Backoff({ random: () => 0, maxRetryAfterMs: 60_000 }).next(86_400_000), 60_000);
    // Absent or nonsensical: plain jitter.
    assert.equal(new Backoff({ random: () => 0 }).next(undefined), 0);
    assert.equal(new Backoff({ random: () => 0 }).next(Number.NaN), 0);
  });

  void it('clamps a random source that strays outside [0, 1]', () => {
    assert.equal(new Backoff({ random: () => 7 }).next(), 500);
    assert.equal(new Backoff({ random: () => -1 }).next(), 0);
  });

  void it('refuses negative or non-finite options', () => {
    assert.throws(() => new Backoff({ baseMs: -1 }), RangeError);
    assert.throws(() => new Backoff({ capMs: Number.POSITIVE_INFINITY }), RangeError);
  });
});

void describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);

  void it('reads delta-seconds', () => {
    assert.equal(parseRetryAfter('5', now), 5000);
    assert.equal(parseRetryAfter(' 120 ', now), 120_000);
    assert.equal(parseRetryAfter('0', now), 0);
  });

  void it('reads an HTTP-date relative to now, never negative', () => {
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 12:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 11:00:00 GMT', now), 0);
  });

  void it('returns undefined for absent or malformed values', () => {
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});
