/** The status of a rollout as the CLI, API and UI show it: waves, gates and counts, computed from the state and an observation. */
import { formatDuration } from '../duration.js';
import { type CheckSample, outcomeOf, type SampleOutcome, thresholdText } from './checks.js';
import { countsOf, ratio, reportRatioOf } from './helpers.js';
import {
  type EvaluateOptions,
  type HoldReason,
  type RolloutDecision,
  type RolloutGateName,
  type RolloutState,
  type RolloutStateName,
  type WaveObservation,
  bakedMsAt,
  evaluate,
  isActiveRollout,
  judgeChecks,
} from './machine.js';
import { type RolloutPolicy, type RolloutStrategy, type WaveMatch, bakeMsOf, reportDeadlineAtOf } from './policy.js';

export interface WaveSummary {
  index: number;
  name: string;
  percent: number;
  bake: string;
  bakeMs: number;
  match?: WaveMatch;
  status: 'done' | 'current' | 'pending';
  /** The counts, on the current wave only. */
  targeted?: number;
  reported?: number;
  applied?: number;
  rejected?: number;
  unhealthy?: number;
}

export interface GateSummary {
  name: RolloutGateName;
  /** The observed value: a count for minInstances, a ratio for the others. */
  value: number;
  threshold: number;
  pass: boolean;
  /** `waiting`: not met yet, but not failed (reports before the deadline; too few instances). */
  status: 'pass' | 'waiting' | 'fail';
}

/** A metric or HTTP check of the current wave (or the wave the rollout ended on): what was asked, what came back, when. */
export interface CheckSummary {
  name: string;
  kind: 'metric' | 'http';
  /** The query or URL as sent (placeholders filled in), or as written before any sample. */
  target: string;
  /** `max 0.01`, `min 0.9, max 2`; for an HTTP check, `2xx or {"pass": true}`. */
  threshold: string;
  status: 'pass' | 'waiting' | 'fail';
  message: string;
  /** The latest samples (at most 20), oldest first, each with its outcome. */
  samples: Array<CheckSample & { outcome: SampleOutcome }>;
}

/** What `herald rollout status --json` prints. */
export interface RolloutSummary {
  id: string;
  namespace: string;
  strategy: RolloutStrategy;
  state: RolloutStateName;
  wave: number;
  waveName: string | null;
  waves: WaveSummary[];
  gates: GateSummary[];
  /** The metric and HTTP checks (gates.metrics, gates.http) on the current wave. */
  checks: CheckSummary[];
  fromSeq: number;
  toSeq: number;
  startedAt: number;
  updatedAt: number;
  waveStartedAt: number;
  pausedAt: number | null;
  bakeMs: number;
  bakedMs: number;
  bakeRemainingMs: number;
  /** When the current wave's reports must be in (null when not staged or finished). */
  reportDeadlineAt: number | null;
  autoRollback: boolean;
  /** What evaluate would decide now, in words. */
  next: { kind: RolloutDecision['kind']; why?: HoldReason; message: string };
  reason: string | null;
}

/** The status of a rollout at `now`, from its state, its policy and the current wave's counts. Pure; changes nothing. */
export function summarize(
  state: RolloutState,
  policy: RolloutPolicy,
  observation: WaveObservation,
  now: number,
  options: EvaluateOptions = {},
): RolloutSummary {
  const { decision } = evaluate(state, policy, observation, now, options);
  const { observedSince } = options;
  const staged = policy.strategy === 'staged';
  const active = isActiveRollout(state);
  const index = staged ? Math.min(state.wave, policy.waves.length - 1) : 0;
  const wave = staged ? policy.waves[index] : undefined;
  const baked = bakedMsAt(state, now, observedSince);
  const waveBakeMs = staged ? bakeMsOf(policy, index) : 0;
  const waves: WaveSummary[] = staged
    ? policy.waves.map((w, i) => {
        const status = state.state === 'succeeded' || i < index ? 'done' : i === index ? 'current' : 'pending';
        const item: WaveSummary = {
          index: i,
          name: w.name,
          percent: w.percent,
          bake: formatDuration(w.bakeMs),
          bakeMs: w.bakeMs,
          status,
        };
        if (w.match !== undefined) item.match = w.match;
        if (status === 'current') Object.assign(item, countsOf(observation));
        return item;
      })
    : [];
  const gates: GateSummary[] = [];
  if (staged) {
    const o = observation;
    const deadlinePassed = active && now >= reportDeadlineAtOf(state, policy, index, observedSince);
    const g = policy.gates;
    const add = (name: RolloutGateName, value: number, threshold: number, pass: boolean, failed: boolean): void => {
      gates.push({ name, value, threshold, pass, status: pass ? 'pass' : failed ? 'fail' : 'waiting' });
    };
    add('minInstances', o.targeted, g.minInstances, o.targeted >= g.minInstances, false);
    const reportRatio = reportRatioOf(o);
    add('minReportRatio', reportRatio, g.minReportRatio, reportRatio >= g.minReportRatio, deadlinePassed || !active);
    const rejectRatio = ratio(o.rejected, o.targeted);
    add('maxRejectRatio', rejectRatio, g.maxRejectRatio, rejectRatio <= g.maxRejectRatio, true);
    const unhealthyRatio = ratio(o.unhealthy, o.targeted);
    add('maxUnhealthyRatio', unhealthyRatio, g.maxUnhealthyRatio, unhealthyRatio <= g.maxUnhealthyRatio, true);
  }
  const checks: CheckSummary[] = staged
    ? judgeChecks(state, policy, observation, now, observedSince).map((judged) => {
        const check = [...(policy.gates.metrics ?? []), ...(policy.gates.http ?? [])].find(
          (c) => c.name === judged.name,
        );
        const samples =
          observation.checks?.find((c) => c.name === judged.name && c.kind === judged.kind)?.samples ?? [];
        return {
          name: judged.name,
          kind: judged.kind,
          target: judged.target,
          threshold: check && 'query' in check ? thresholdText(check) : '2xx or {"pass": true}',
          status: judged.status,
          message: judged.message,
          samples: samples
            .slice(-20)
            .map((s) => ({ ...s, outcome: check ? outcomeOf(check, judged.kind, s) : 'error' })),
        };
      })
    : [];
  const next: RolloutSummary['next'] = { kind: decision.kind, message: decision.message };
  if (decision.kind === 'hold') next.why = decision.why;
  return {
    id: state.id,
    namespace: state.namespace,
    strategy: policy.strategy,
    state: state.state,
    wave: state.wave,
    waveName: wave?.name ?? null,
    waves,
    gates,
    checks,
    fromSeq: state.fromSeq,
    toSeq: state.toSeq,
    startedAt: state.startedAt,
    updatedAt: state.updatedAt,
    waveStartedAt: state.waveStartedAt,
    pausedAt: state.pausedAt ?? null,
    bakeMs: waveBakeMs,
    bakedMs: Math.min(baked, wave ? waveBakeMs : baked),
    bakeRemainingMs: active && wave ? Math.max(0, waveBakeMs - baked) : 0,
    reportDeadlineAt: active && staged ? reportDeadlineAtOf(state, policy, index, observedSince) : null,
    autoRollback: staged ? policy.autoRollback : false,
    next,
    reason: state.reason ?? null,
  };
}
