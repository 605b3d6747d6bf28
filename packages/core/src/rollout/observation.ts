/**
 * What the rollout controller may believe about a wave: which time it observed, and which
 * reports still say something. Pure, like the state machine (machine.ts) it feeds: time is an
 * argument.
 *
 * The rules (docs: README, "Safe deployment"):
 * - Observation window. The controller observes each active rollout on every tick. `since` is
 *   when its current unbroken run of observations began: a first observation (a start, a restart,
 *   a new leader) or one that comes more than `maxGapMs` after the previous one opens a new window.
 *   Time before `since` is not bake (evaluate's `observedSince`).
 * - Healthy reports. An instance counts as healthy on the candidate only with a report received at
 *   or after `healthyReportsSince`: the later of the wave's start plus `gates.failureDelay` (the
 *   report could not have seen a failure yet) and the window's `since` (failures sent while the
 *   controller was not observing may have been lost). Older ok reports are a missing signal, not a
 *   healthy one. A rejected or unhealthy report counts however old it is: bad news never expires.
 */
import { firstWaveOf } from './buckets.js';
import type { RolloutState, WaveCounts, WaveObservation } from './machine.js';
import type { RolloutPolicy } from './policy.js';

/** The controller's unbroken run of observations of one rollout. */
export interface ObservationWindow {
  /** When the run began. */
  since: number;
  /** The latest observation. */
  lastAt: number;
}

/**
 * The window after an observation at `now`: the previous one carried on when it is at most
 * `maxGapMs` old, else a new one from `now`. A `now` before the previous observation (a clock
 * that went back) opens a new window too: what happened in between is unknown.
 */
export function observeAgain(
  previous: ObservationWindow | undefined,
  now: number,
  maxGapMs: number,
): ObservationWindow {
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite number of milliseconds, not ${String(now)}`);
  if (!Number.isFinite(maxGapMs) || maxGapMs < 0)
    throw new RangeError(`maxGapMs must be a finite number ≥ 0, not ${String(maxGapMs)}`);
  if (previous === undefined || now < previous.lastAt || now - previous.lastAt > maxGapMs)
    return { since: now, lastAt: now };
  return { since: previous.since, lastAt: now };
}

/** The earliest receipt time of a report that counts as healthy for the rollout's current wave. */
export function healthyReportsSince(state: RolloutState, policy: RolloutPolicy, observedSince: number): number {
  const delay = policy.strategy === 'staged' ? (policy.gates.failureDelayMs ?? 0) : 0;
  return Math.max(state.waveStartedAt + delay, observedSince);
}

/** An instance's latest report as the controller counts it. */
export interface ReportedInstance {
  instanceId: string;
  attributes: Readonly<Record<string, string>>;
  /** When its latest report was received (server clock). */
  lastSeen: number;
  health: string;
  views: ReadonlyArray<{ seq: number; status: string }>;
}

/**
 * Counts the current wave's instances for `evaluate`: targeted; reported = rejected the candidate,
 * or applied it and reported since `healthySince` or unhealthy at any time; applied, rejected and
 * unhealthy among those.
 */
export function countWave(
  state: RolloutState,
  policy: RolloutPolicy,
  instances: Iterable<ReportedInstance>,
  healthySince: number,
): WaveObservation {
  const zero = (): WaveCounts => ({ targeted: 0, reported: 0, applied: 0, rejected: 0, unhealthy: 0 });
  const observation: WaveObservation = zero();
  const added = zero();
  for (const instance of instances) {
    const first = firstWaveOf(policy, state.id, instance);
    if (first === undefined || first > state.wave || state.wave < 0) continue;
    // Counted among all the rollout targets so far, and among what this wave adds when it is the first to.
    const tallies = first === state.wave ? [observation, added] : [observation];
    for (const t of tallies) t.targeted += 1;
    const onCandidate = instance.views.filter((v) => v.seq === state.toSeq);
    if (onCandidate.some((v) => v.status === 'rejected')) {
      for (const t of tallies) {
        t.reported += 1;
        t.rejected += 1;
      }
    } else if (onCandidate.some((v) => v.status === 'applied')) {
      const unhealthy = instance.health !== 'ok';
      if (!unhealthy && instance.lastSeen < healthySince) continue;
      for (const t of tallies) {
        t.reported += 1;
        t.applied += 1;
        if (unhealthy) t.unhealthy += 1;
      }
    }
  }
  observation.added = added;
  return observation;
}

/**
 * The observation of two disjoint sets of instances together: the counts add up, so a fleet can be
 * counted a page at a time (countWave on each page) and merged, equal to counting it whole.
 */
export function mergeWaveObservations(a: WaveObservation, b: WaveObservation): WaveObservation {
  const sum = (x: WaveCounts, y: WaveCounts): WaveCounts => ({
    targeted: x.targeted + y.targeted,
    reported: x.reported + y.reported,
    applied: x.applied + y.applied,
    rejected: x.rejected + y.rejected,
    unhealthy: x.unhealthy + y.unhealthy,
  });
  const zero: WaveCounts = { targeted: 0, reported: 0, applied: 0, rejected: 0, unhealthy: 0 };
  return { ...sum(a, b), added: sum(a.added ?? zero, b.added ?? zero) };
}
