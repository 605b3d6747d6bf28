/** Small pure helpers the rollout modules share (ratios, selectors, checks of their inputs); not part of the package surface. */
import { printable } from '../validation.js';
import type { WaveCounts, WaveObservation } from './machine.js';
import type { WaveMatch } from './policy.js';
import type { WaveSummary } from './summary.js';

export function ratio(count: number, of: number): number {
  if (of === 0) return count > 0 ? 1 : 0;
  return Math.min(1, count / of);
}

/** Share of the targeted instances that reported; a wave of no instances has all its reports (minInstances decides whether such a wave may pass). */
export function reportRatioOf(o: WaveCounts): number {
  return o.targeted === 0 ? 1 : Math.min(1, o.reported / o.targeted);
}

export function ratioText(value: number): string {
  return `${Math.round(value * 10_000) / 100} %`;
}

export function countsOf(
  o: WaveObservation,
): Pick<WaveSummary, 'targeted' | 'reported' | 'applied' | 'rejected' | 'unhealthy'> {
  return {
    targeted: o.targeted,
    reported: o.reported,
    applied: o.applied,
    rejected: o.rejected,
    unhealthy: o.unhealthy,
  };
}

export function checkNow(now: number): void {
  if (typeof now !== 'number' || !Number.isFinite(now))
    throw new RangeError(`now must be a finite number of milliseconds, not ${String(now)}`);
}

export function checkObservation(o: WaveObservation): void {
  for (const [counts, where] of [
    [o, 'observation'],
    [o.added, 'observation.added'],
  ] as const) {
    if (counts === undefined) continue;
    for (const field of ['targeted', 'reported', 'applied', 'rejected', 'unhealthy'] as const) {
      const value = counts[field];
      if (!Number.isSafeInteger(value) || value < 0)
        throw new RangeError(`${where}.${field} must be a whole number ≥ 0, not ${String(value)}`);
    }
  }
}

export function selectorKey(match: WaveMatch | undefined): string {
  if (match === undefined) return '';
  return JSON.stringify(
    Object.keys(match)
      .sort()
      .map((k) => [k, [...(match[k] ?? [])].sort()]),
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function unknownKeys(
  object: Record<string, unknown>,
  known: readonly string[],
  prefix: string,
  problem: (path: string, message: string) => void,
): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key))
      problem(`${prefix}${printable(key.slice(0, 64))}`, `is not a field here (known: ${known.join(', ')})`);
  }
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `"${printable(value.slice(0, 40))}"`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a ${typeof value}`;
}
