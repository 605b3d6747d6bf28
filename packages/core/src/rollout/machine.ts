/**
 * Staged rollouts: the policy a namespace gives its releases, the deterministic choice of which
 * instances are in which wave, and the state machine that moves a namespace from its stable
 * release to a candidate wave by wave. Everything here is pure: time is the `now` argument
 * (milliseconds), state is plain JSON the caller persists, and nothing is read or written.
 *
 * The controller that drives it (in the server) loops: gather the observation of the current
 * wave, call `evaluate`, persist the state when the decision is not `hold`, act on the decision
 * (on `fail` with rollback, publish the stable content as a new release; on `succeed`, make the
 * candidate stable), and audit the history entry the transition appended.
 */
import { formatDuration } from '../duration.js';
import { HeraldError } from '../errors.js';
import { printable } from '../validation.js';
import { type RolloutInstance, isTargeted } from './buckets.js';
import { type CheckJudgement, type CheckObservation, type CheckSample, judgeCheck } from './checks.js';
import { checkNow, checkObservation, ratio, ratioText, reportRatioOf } from './helpers.js';
import {
  type RolloutGates,
  type RolloutPolicy,
  type RolloutWave,
  type StagedRolloutPolicy,
  bakeMsOf,
  reportDeadlineAtOf,
  reportDeadlineOf,
} from './policy.js';

export type RolloutStateName = 'running' | 'paused' | 'frozen' | 'succeeded' | 'rolled_back' | 'aborted';

export const rolloutStateNames: readonly RolloutStateName[] = [
  'running',
  'paused',
  'frozen',
  'succeeded',
  'rolled_back',
  'aborted',
];

export interface RolloutHistoryEntry {
  at: number;
  /** The state before, or `none` for the start. */
  from: string;
  to: string;
  /** The wave after the transition. An advance is `running` → `running` with the new wave. */
  wave: number;
  /** Who: a token's principal, or `controller` for the automatic transitions. */
  actor: string;
  reason: string;
}

/**
 * A rollout, as plain JSON: persist it on every transition, load it after a restart, and the
 * rollout carries on where it was.
 *
 * Bake accounting: `bakedMs` is the bake time credited to the current wave up to `updatedAt`.
 * While `running`, time after `updatedAt` counts too, but only from when the controller began
 * observing the rollout without a gap (`observedSince`, see observation.ts); while
 * `paused` or `frozen` it does not. So time the controller did not observe (it was down, or was
 * not the leader, or could not read the reports) is never bake: a failure the instances reported
 * meanwhile may have been lost, and the bake must see one if there is one.
 */
export interface RolloutState {
  id: string;
  namespace: string;
  /** The stable release the rollout moves away from (0: there was none). */
  fromSeq: number;
  /** The candidate release. */
  toSeq: number;
  state: RolloutStateName;
  /** Index of the current wave. */
  wave: number;
  waveStartedAt: number;
  startedAt: number;
  updatedAt: number;
  /** When it was paused or frozen; absent otherwise. */
  pausedAt?: number;
  /** While frozen: the state `unfreeze` returns to. */
  frozenFrom?: 'running' | 'paused';
  /**
   * When it was last resumed in the current wave: the wave's report deadline runs again from then,
   * so a wave paused for missing reports (a partitioned region) is judged afresh once resumed
   * rather than failing again at once. Cleared when the wave changes.
   */
  resumedAt?: number;
  bakedMs: number;
  /** Why it stopped, paused or rolled back, in words; absent while it runs. */
  reason?: string;
  /** Every transition, oldest first (the first entry and the newest 199 are kept). */
  history: RolloutHistoryEntry[];
}

/** Counts among the instances the current wave targets, for the candidate release. */
export interface WaveCounts {
  targeted: number;
  /** Targeted instances that reported the candidate applied or rejected. */
  reported: number;
  applied: number;
  rejected: number;
  /** Targeted instances whose health is degraded or failing. */
  unhealthy: number;
  /** The samples of the policy's metric and HTTP checks in this wave (checks.ts); absent: none taken. */
  checks?: CheckObservation[];
}

/**
 * The counts of every instance the rollout targets so far, and (`added`) of those the current
 * wave adds: the gates hold for both, so a wave that takes one more region is judged on that
 * region too, not only diluted among the regions before it (a silent region holds its wave).
 */
export interface WaveObservation extends WaveCounts {
  added?: WaveCounts;
}

export type RolloutGateName = 'minInstances' | 'minReportRatio' | 'maxRejectRatio' | 'maxUnhealthyRatio';

export type HoldReason =
  | 'baking' // the bake time has not elapsed (bakeRemainingMs says how much is left)
  | 'waiting_for_reports' // baked, but fewer than minReportRatio have reported; the deadline has not passed
  | 'too_few_instances' // the wave targets fewer than minInstances instances
  | 'waiting_for_checks' // baked, but a metric or HTTP check has no passing sample yet
  | 'paused'
  | 'frozen'
  | 'finished'; // succeeded, rolled back or aborted: nothing more to do

export type RolloutDecision =
  | {
      kind: 'hold';
      why: HoldReason;
      wave: number;
      message: string;
      bakeRemainingMs: number;
      /** When something will change even if no report arrives (bake over, deadline reached); absent when only a report can change it. */
      recheckInMs?: number;
    }
  | { kind: 'advance'; from: number; to: number; wave: number; message: string }
  | { kind: 'succeed'; wave: number; message: string }
  | {
      kind: 'fail';
      gate: FailedGate;
      /** For a metric or HTTP check: which, what was sent and the sample that failed it. */
      check?: FailedCheck;
      wave: number;
      value: number;
      threshold: number;
      /** true: the state is now `rolled_back` (publish the stable content); false: it is `paused`. */
      rolledBack: boolean;
      message: string;
    };

/** What can fail a wave: a ratio gate, the report deadline, or a metric or HTTP check. */
export type FailedGate = Exclude<RolloutGateName, 'minInstances'> | 'metric' | 'http';

export interface FailedCheck {
  name: string;
  kind: 'metric' | 'http';
  target: string;
  sample: CheckSample & { outcome: string };
}

/** Every check of the policy judged for the current wave (checks.ts), in policy order. */
export function judgeChecks(
  state: RolloutState,
  policy: StagedRolloutPolicy,
  observation: WaveObservation,
  now: number,
  observedSince?: number,
): Array<CheckJudgement & { name: string; kind: 'metric' | 'http'; target: string }> {
  const index = Math.min(state.wave, policy.waves.length - 1);
  const from = Math.max(state.waveStartedAt, observedSince ?? state.waveStartedAt);
  const deadlineAt = reportDeadlineAtOf(state, policy, index, observedSince);
  const all = [
    ...(policy.gates.metrics ?? []).map((check) => ({ check, kind: 'metric' as const })),
    ...(policy.gates.http ?? []).map((check) => ({ check, kind: 'http' as const })),
  ];
  return all.map(({ check, kind }) => {
    const seen = observation.checks?.find((c) => c.name === check.name && c.kind === kind);
    const target = seen?.target ?? ('query' in check ? check.query : check.url);
    return { ...judgeCheck(check, kind, seen, from, deadlineAt, now), name: check.name, kind, target };
  });
}

/** The actor of the transitions `evaluate` makes on its own. */
export const controllerActor = 'controller';

const maxHistory = 200;

export interface StartRolloutInput {
  id: string;
  namespace: string;
  fromSeq: number;
  toSeq: number;
  now: number;
  actor: string;
  reason?: string;
}

/** A new rollout, running its first wave from `now`. */
export function startRollout(input: StartRolloutInput): RolloutState {
  const { id, namespace, fromSeq, toSeq, now, actor } = input;
  checkNow(now);
  if (typeof id !== 'string' || id.length === 0) throw new RangeError('a rollout needs a non-empty id');
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0)
    throw new RangeError(`fromSeq must be a whole number ≥ 0, not ${fromSeq}`);
  if (!Number.isSafeInteger(toSeq) || toSeq <= fromSeq)
    throw new RangeError(`toSeq must be a whole number above fromSeq (${fromSeq}), not ${toSeq}`);
  return {
    id,
    namespace,
    fromSeq,
    toSeq,
    state: 'running',
    wave: 0,
    waveStartedAt: now,
    startedAt: now,
    updatedAt: now,
    bakedMs: 0,
    history: [
      {
        at: now,
        from: 'none',
        to: 'running',
        wave: 0,
        actor,
        reason: input.reason ?? `roll out release ${toSeq} (stable: ${fromSeq})`,
      },
    ],
  };
}

/** Running, paused or frozen: the rollout still owns its namespace (one at a time). */
export function isActiveRollout(state: Pick<RolloutState, 'state'>): boolean {
  return state.state === 'running' || state.state === 'paused' || state.state === 'frozen';
}

/**
 * Bake time the current wave has accumulated by `now`, counting running time after `updatedAt`
 * only from `observedSince` on (absent: all of it, for a status shown without a controller).
 */
export function bakedMsAt(state: RolloutState, now: number, observedSince?: number): number {
  if (state.state !== 'running') return state.bakedMs;
  const from = Math.max(state.updatedAt, observedSince ?? state.updatedAt);
  return state.bakedMs + Math.max(0, now - from);
}

/** What the controller passes to `evaluate` about its own observation of the rollout. */
export interface EvaluateOptions {
  /**
   * Since when the controller has observed the rollout without a gap (observeAgain in
   * observation.ts). Running time before it is not bake, and the report deadline of the
   * current wave runs from it when it is later than the wave's start (reports from before it do
   * not count as healthy, so the instances get a full deadline to report again). Absent: the
   * wave's whole running time was observed.
   */
  observedSince?: number | undefined;
}

/**
 * Decides what the rollout does now, given what the current wave's instances reported. Pure: a
 * `hold` returns the very same state object (nothing to persist); any other decision returns a
 * new state with a history entry by `controller`.
 *
 * Pass the policy the rollout started with (store it with the state): a wave index means nothing
 * under another policy. Rules, in order:
 * 1. frozen, succeeded, rolled back, aborted: hold.
 * 2. Not staged: succeed at once.
 * 3. Reject and unhealthy ratios are checked at any time, paused too (a pause stops progress, not
 *    safety): above its threshold, the wave fails. With autoRollback the rollout is rolled back;
 *    without, it pauses with the reason (a paused one stays paused).
 * 4. Paused: hold.
 * 5. Fewer targeted instances than minInstances: hold, without a deadline (abort or change the
 *    policy if the fleet is too small for the wave).
 * 6. Fewer reports than minReportRatio: hold until the report deadline (wall time from the wave's
 *    start, or from `observedSince` when later; pauses included), then fail: a missing signal is a
 *    failing signal. The observation counts as reported only what countWave counts: no stale ok.
 * 7. Bake not elapsed (paused, frozen and unobserved time do not count): hold.
 * 8. Otherwise the wave passes: advance to the next one, or after the last, succeed.
 */
export function evaluate(
  state: RolloutState,
  policy: RolloutPolicy,
  observation: WaveObservation,
  now: number,
  options: EvaluateOptions = {},
): { state: RolloutState; decision: RolloutDecision } {
  checkNow(now);
  checkObservation(observation);
  const { observedSince } = options;
  if (observedSince !== undefined) checkNow(observedSince);
  const seen = observedSince === undefined ? {} : { observedSince };
  const hold = (
    why: HoldReason,
    message: string,
    bakeRemainingMs = 0,
    recheckInMs?: number,
  ): { state: RolloutState; decision: RolloutDecision } => {
    const decision: RolloutDecision = { kind: 'hold', why, wave: state.wave, message, bakeRemainingMs };
    if (recheckInMs !== undefined) decision.recheckInMs = recheckInMs;
    return { state, decision };
  };
  if (state.state === 'frozen') return hold('frozen', 'frozen: nothing moves until unfreeze');
  if (!isActiveRollout(state))
    return hold(
      'finished',
      `the rollout has ${state.state === 'succeeded' ? 'succeeded' : state.state === 'aborted' ? 'been aborted' : 'been rolled back'}`,
    );
  if (policy.strategy !== 'staged') {
    if (state.state === 'paused') return hold('paused', `paused${state.reason ? `: ${state.reason}` : ''}`);
    const message = `strategy ${policy.strategy}: release ${state.toSeq} goes to every instance at once`;
    return {
      state: transition(state, now, 'succeeded', controllerActor, message, { reason: message }),
      decision: { kind: 'succeed', wave: state.wave, message },
    };
  }
  const index = Math.min(state.wave, policy.waves.length - 1);
  const wave = policy.waves[index] as RolloutWave;
  const { gates } = policy;
  const o = observation;
  const label = `wave ${index} "${wave.name}"`;

  // The instances this wave adds, when it adds some and they are not all there is.
  const added = o.added !== undefined && o.added.targeted > 0 && o.added.targeted < o.targeted ? o.added : undefined;
  const failingAll = failingRatioGate(o, gates);
  const failingAdded = failingAll === undefined && added ? failingRatioGate(added, gates) : undefined;
  const failing = failingAll ?? failingAdded;
  if (failing !== undefined) {
    const among = failingAll ? `${o.targeted} targeted instances` : `the ${added?.targeted} instances this wave adds`;
    const message = `${label}: ${failing.count} of ${among} ${failing.gate === 'maxRejectRatio' ? 'rejected release' : 'report unhealthy on release'} ${state.toSeq} (${ratioText(failing.value)}), above ${failing.gate} ${failing.threshold}`;
    if (state.state === 'paused' && !policy.autoRollback) return hold('paused', `paused; and ${message}`);
    return fail(state, policy, now, seen, {
      gate: failing.gate,
      wave: index,
      value: failing.value,
      threshold: failing.threshold,
      message,
    });
  }
  const checks = judgeChecks(state, policy, o, now, observedSince);
  const failedCheck = checks.find((c) => c.status === 'fail');
  if (failedCheck !== undefined) {
    const message = `${label}: ${failedCheck.message}`;
    if (state.state === 'paused' && !policy.autoRollback) return hold('paused', `paused; and ${message}`);
    const metric =
      failedCheck.kind === 'metric' ? policy.gates.metrics?.find((m) => m.name === failedCheck.name) : undefined;
    const sample = failedCheck.failed;
    return fail(state, policy, now, seen, {
      gate: failedCheck.kind,
      wave: index,
      value: sample?.value ?? Number.NaN,
      threshold: metric ? (metric.max ?? metric.min ?? 0) : 1,
      message,
      ...(sample
        ? { check: { name: failedCheck.name, kind: failedCheck.kind, target: failedCheck.target, sample } }
        : {}),
    });
  }
  if (state.state === 'paused')
    return hold(
      'paused',
      `paused${state.reason ? `: ${state.reason}` : ''}`,
      Math.max(0, bakeMsOf(policy, index) - bakedMsAt(state, now, observedSince)),
    );

  const bakeRemainingMs = Math.max(0, bakeMsOf(policy, index) - bakedMsAt(state, now, observedSince));
  if (o.targeted < gates.minInstances) {
    return hold(
      'too_few_instances',
      `${label} targets ${o.targeted} instance${o.targeted === 1 ? '' : 's'}; it needs at least ${gates.minInstances} (gates.minInstances) to judge the release`,
      bakeRemainingMs,
    );
  }
  const allRatio = reportRatioOf(o);
  const addedRatio = added ? reportRatioOf(added) : 1;
  const short = allRatio < gates.minReportRatio ? o : added && addedRatio < gates.minReportRatio ? added : undefined;
  const reportRatio = short === o ? allRatio : addedRatio;
  if (short !== undefined) {
    const deadline = reportDeadlineOf(policy, index);
    const deadlineAt = reportDeadlineAtOf(state, policy, index, observedSince);
    const among = short === o ? `${o.targeted} targeted instances` : `the ${short.targeted} instances this wave adds`;
    const reportsText = `${short.reported} of ${among} reported (${ratioText(reportRatio)}), below minReportRatio ${gates.minReportRatio}`;
    if (now >= deadlineAt) {
      const message = `${label}: only ${reportsText} by the report deadline of ${formatDuration(deadline)}; a missing signal is a failing signal`;
      return fail(state, policy, now, seen, {
        gate: 'minReportRatio',
        wave: index,
        value: reportRatio,
        threshold: gates.minReportRatio,
        message,
      });
    }
    const untilDeadline = deadlineAt - now;
    if (bakeRemainingMs > 0) {
      return hold(
        'baking',
        `${label}: baking, ${formatDuration(bakeRemainingMs)} left; ${reportsText}`,
        bakeRemainingMs,
        Math.min(bakeRemainingMs, untilDeadline),
      );
    }
    return hold(
      'waiting_for_reports',
      `${label}: ${reportsText}; failing in ${formatDuration(untilDeadline)} if they do not come`,
      0,
      untilDeadline,
    );
  }
  if (bakeRemainingMs > 0)
    return hold(
      'baking',
      `${label}: baking, ${formatDuration(bakeRemainingMs)} left`,
      bakeRemainingMs,
      bakeRemainingMs,
    );

  const waiting = checks.find((c) => c.status !== 'pass');
  if (waiting !== undefined) {
    const check = [...(policy.gates.metrics ?? []), ...(policy.gates.http ?? [])].find((c) => c.name === waiting.name);
    return hold('waiting_for_checks', `${label}: ${waiting.message}`, 0, check?.intervalMs);
  }
  const checked = checks.length > 0 ? `; ${checks.map((c) => `${c.kind} check "${c.name}"`).join(', ')} held` : '';
  const passed = `${label} passed: ${o.applied} applied, ${o.rejected} rejected, ${o.unhealthy} unhealthy of ${o.targeted} targeted; baked ${formatDuration(bakeMsOf(policy, index))}${checked}`;
  if (index >= policy.waves.length - 1) {
    const message = `${passed}; release ${state.toSeq} is now stable`;
    return {
      state: transition(state, now, 'succeeded', controllerActor, message, { reason: message, ...seen }),
      decision: { kind: 'succeed', wave: index, message },
    };
  }
  const next = index + 1;
  const nextWave = policy.waves[next] as RolloutWave;
  const message = `${passed}; on to wave ${next} "${nextWave.name}" (${nextWave.percent} %)`;
  const advanced = transition(state, now, 'running', controllerActor, message, { wave: next, ...seen });
  return { state: advanced, decision: { kind: 'advance', from: index, to: next, wave: next, message } };
}

function fail(
  state: RolloutState,
  policy: StagedRolloutPolicy,
  now: number,
  seen: { observedSince?: number },
  f: {
    gate: FailedGate;
    wave: number;
    value: number;
    threshold: number;
    message: string;
    check?: FailedCheck;
  },
): { state: RolloutState; decision: RolloutDecision } {
  const to = policy.autoRollback ? 'rolled_back' : 'paused';
  const reason = policy.autoRollback
    ? `${f.message}; rolled back to release ${state.fromSeq}`
    : `${f.message}; paused (autoRollback is off): roll back, abort, or resume once fixed`;
  return {
    state: transition(state, now, to, controllerActor, reason, { reason, ...seen }),
    decision: { kind: 'fail', ...f, message: reason, rolledBack: policy.autoRollback },
  };
}

function failingRatioGate(
  o: WaveCounts,
  gates: RolloutGates,
): { gate: 'maxRejectRatio' | 'maxUnhealthyRatio'; value: number; threshold: number; count: number } | undefined {
  const rejectRatio = ratio(o.rejected, o.targeted);
  if (rejectRatio > gates.maxRejectRatio)
    return { gate: 'maxRejectRatio', value: rejectRatio, threshold: gates.maxRejectRatio, count: o.rejected };
  const unhealthyRatio = ratio(o.unhealthy, o.targeted);
  if (unhealthyRatio > gates.maxUnhealthyRatio)
    return { gate: 'maxUnhealthyRatio', value: unhealthyRatio, threshold: gates.maxUnhealthyRatio, count: o.unhealthy };
  return undefined;
}

/** Stops the rollout from advancing; bake time stops too. From running. */
export function pause(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'pause', ['running']);
  const why = reason || `paused by ${actor}`;
  return transition(state, now, 'paused', actor, why, { reason: why });
}

/** Carries on a paused rollout; the bake continues where it stopped. From paused. */
export function resume(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'resume', ['paused']);
  const next = transition(state, now, 'running', actor, reason || `resumed by ${actor}`, {});
  next.resumedAt = next.updatedAt;
  return next;
}

/** Emergency stop: nothing moves, not even an automatic rollback, until unfreeze. From running or paused. */
export function freeze(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'freeze', ['running', 'paused']);
  const why = reason || `frozen by ${actor}`;
  return transition(state, now, 'frozen', actor, why, { reason: why, frozenFrom: state.state as 'running' | 'paused' });
}

/** Ends a freeze: back to running, or to paused if it was paused when frozen. From frozen. */
export function unfreeze(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'unfreeze', ['frozen']);
  const to = state.frozenFrom ?? 'running';
  const why = reason || `unfrozen by ${actor}`;
  return transition(
    state,
    now,
    to,
    actor,
    why,
    to === 'paused' ? { reason: state.history.findLast((h) => h.to === 'paused')?.reason ?? why } : {},
  );
}

/**
 * Stops the rollout and gives up the candidate without calling it bad (e.g. to make way for a
 * newer release): like a rollback, every instance goes back to the stable content.
 */
export function abort(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'abort', ['running', 'paused', 'frozen']);
  const why = reason || `aborted by ${actor}`;
  return transition(state, now, 'aborted', actor, why, { reason: why });
}

/** Rolls back by hand: every instance goes back to the stable content. From running, paused or frozen. */
export function rollback(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'rollback', ['running', 'paused', 'frozen']);
  const why = reason || `rolled back by ${actor}`;
  return transition(state, now, 'rolled_back', actor, why, { reason: why });
}

/**
 * Whether the instance should run the candidate now: targeted by the current wave while the
 * rollout is active, everyone once it succeeded, no one after a rollback or abort. An instance
 * that connects mid-rollout gets what this says at that moment.
 */
export function selectsCandidate(state: RolloutState, policy: RolloutPolicy, instance: RolloutInstance): boolean {
  if (state.state === 'succeeded') return true;
  if (!isActiveRollout(state)) return false;
  return isTargeted(policy, state.wave, state.id, instance);
}

function expectState(state: RolloutState, command: string, from: readonly RolloutStateName[]): void {
  if (from.includes(state.state)) return;
  const hint = state.state === 'frozen' ? '; unfreeze it first' : isActiveRollout(state) ? '' : '; it has finished';
  throw new HeraldError(
    'invalid_transition',
    `cannot ${command} rollout ${printable(state.id)} of ${printable(state.namespace)}: it is ${state.state.replace('_', ' ')}${hint} (${command} works when it is ${from.join(' or ')})`,
    {
      extensions: { rolloutState: state.state, allowedFrom: [...from] },
    },
  );
}

/**
 * The one place a state changes: folds running time into the bake, stamps the time, appends the
 * history entry. `changes.wave` moves to a new wave (bake and deadline restart). Time never goes
 * backwards in the state: a `now` before `updatedAt` (another node's clock) counts as `updatedAt`.
 */
function transition(
  state: RolloutState,
  now: number,
  to: RolloutStateName,
  actor: string,
  why: string,
  changes: { wave?: number; reason?: string; frozenFrom?: 'running' | 'paused'; observedSince?: number },
): RolloutState {
  checkNow(now);
  const at = Math.max(now, state.updatedAt);
  const next: RolloutState = {
    ...state,
    state: to,
    updatedAt: at,
    bakedMs: bakedMsAt(state, at, changes.observedSince),
    history: [...state.history],
  };
  delete next.reason;
  delete next.frozenFrom;
  if (changes.reason !== undefined) next.reason = changes.reason;
  if (changes.frozenFrom !== undefined) next.frozenFrom = changes.frozenFrom;
  if (to === 'running') delete next.pausedAt;
  else if ((to === 'paused' || to === 'frozen') && next.pausedAt === undefined) next.pausedAt = at;
  if (changes.wave !== undefined) {
    next.wave = changes.wave;
    next.waveStartedAt = at;
    next.bakedMs = 0;
    delete next.resumedAt;
  }
  next.history.push({ at, from: state.state, to, wave: next.wave, actor, reason: why });
  if (next.history.length > maxHistory) next.history.splice(1, next.history.length - maxHistory);
  return next;
}
