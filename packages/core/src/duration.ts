import { HeraldError } from './errors.js';
import { printable } from './validation.js';

/**
 * Durations as people write them in policy files: `500ms`, `30s`, `5m`, `1h30m`, `1.5h`, or a
 * plain number of milliseconds. Units go from largest to smallest, each at most once, with no
 * spaces; a unitless string is refused (is `30` seconds or milliseconds?) except `0`.
 */

/** The longest duration accepted anywhere: 30 days. A bake longer than that is a typo. */
export const maxDurationMs = 30 * 24 * 60 * 60 * 1000;

const unitMs = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
const durationPattern = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/u;

/**
 * What is wrong with `input` as a duration, or undefined when nothing is; `ms` is the value when
 * it is fine. Used by the policy parser, which collects every problem before it throws.
 */
export function checkDuration(
  input: unknown,
): { ms: number; problem?: undefined } | { ms?: undefined; problem: string } {
  if (typeof input === 'number') {
    if (!Number.isInteger(input) || input < 0)
      return { problem: `must be a whole, non-negative number of milliseconds, not ${input}` };
    if (input > maxDurationMs) return { problem: `must be at most 30 days (${maxDurationMs} ms), not ${input}` };
    return { ms: input };
  }
  if (typeof input !== 'string')
    return {
      problem: `must be a duration such as "30s", "5m" or "1h30m", or a number of milliseconds; got ${describe(input)}`,
    };
  const text = input.trim();
  if (text === '0') return { ms: 0 };
  if (/^\d+(?:\.\d+)?$/u.test(text))
    return { problem: `"${printable(text)}" has no unit: write "${text}ms" or "${text}s"` };
  const parts = text === '' ? null : durationPattern.exec(text);
  if (!parts || parts.slice(1).every((part) => part === undefined)) {
    return {
      problem: `"${printable(input.slice(0, 40))}" is not a duration; write e.g. 500ms, 30s, 5m or 1h30m (units h, m, s, ms, largest first)`,
    };
  }
  const [, h, m, s, ms] = parts;
  let total = 0;
  for (const [value, unit] of [
    [h, unitMs.h],
    [m, unitMs.m],
    [s, unitMs.s],
    [ms, unitMs.ms],
  ] as const) {
    if (value !== undefined) total += Number(value) * unit;
  }
  const whole = Math.round(total);
  if (Math.abs(total - whole) > 1e-6) return { problem: `"${printable(text)}" is not a whole number of milliseconds` };
  if (whole > maxDurationMs) return { problem: `"${printable(text)}" is longer than the limit of 30 days` };
  return { ms: whole };
}

/**
 * Milliseconds from a duration string or number. Throws `invalid_request` (400) with the reason,
 * naming the input as `what` (e.g. `"--bake"`).
 */
export function parseDuration(input: unknown, what = 'duration'): number {
  const result = checkDuration(input);
  if (result.problem !== undefined) throw new HeraldError('invalid_request', `${what} ${result.problem}`);
  return result.ms;
}

/** The canonical spelling of a duration: `0s`, `500ms`, `30s`, `1h30m`, `1m0s5ms` is `1m5ms`. parseDuration reads it back exactly. */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0)
    throw new RangeError(`a duration is a whole, non-negative number of milliseconds, not ${ms}`);
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of Object.entries(unitMs)) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0) text += `${count}${unit}`;
  }
  return text;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
