import {
  isTargeted,
  type CheckObservation,
  type FailedCheck,
  type RolloutDecision,
  type RolloutPolicy,
  type RolloutState,
} from '@herald/core';
import type { InstanceRecord } from '@herald/store';

/** A group of instances that failed the same way: the reason, how many, and a few of them. */
export interface FailureGroup {
  reason: string;
  count: number;
  instances: string[];
}

/**
 * Why a wave failed, as the rollout record, the audit record and the UI keep it: taken when it
 * failed, from the instances as they were then, so it still says why after they have moved on.
 */
export interface WaveFailure {
  at: number;
  wave: number;
  waveName: string;
  gate: string;
  message: string;
  /** The most frequent reject reasons on the candidate (at most 5), each with up to 5 instance ids. */
  rejectReasons: FailureGroup[];
  /** The same for unhealthy instances: health and detail. */
  unhealthy: FailureGroup[];
  /** The metric or HTTP check that failed it, with the sample that did. */
  check?: FailedCheck;
  /** Every check's latest samples at that moment (at most 10 each). */
  checks: CheckObservation[];
}

const maxGroups = 5;
const maxIds = 5;

function grouped(items: Array<{ id: string; reason: string }>): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const { id, reason } of items) {
    const group = groups.get(reason) ?? { reason, count: 0, instances: [] };
    group.count += 1;
    if (group.instances.length < maxIds) group.instances.push(id);
    groups.set(reason, group);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)).slice(0, maxGroups);
}

export function waveFailureOf(
  state: RolloutState,
  policy: RolloutPolicy,
  decision: Extract<RolloutDecision, { kind: 'fail' }>,
  instances: readonly InstanceRecord[],
  checks: readonly CheckObservation[],
  at: number,
): WaveFailure {
  const rejected: Array<{ id: string; reason: string }> = [];
  const unhealthy: Array<{ id: string; reason: string }> = [];
  for (const instance of instances) {
    if (!isTargeted(policy, state.wave, state.id, instance)) continue;
    const views = instance.views.filter((v) => v.seq === state.toSeq);
    const reject = views.find((v) => v.status === 'rejected');
    if (reject) rejected.push({ id: instance.instanceId, reason: reject.reason || 'no reason given' });
    else if (views.length > 0 && instance.health !== 'ok')
      unhealthy.push({
        id: instance.instanceId,
        reason: `${instance.health}${instance.healthDetail ? `: ${instance.healthDetail}` : ''}`,
      });
  }
  return {
    at,
    wave: decision.wave,
    waveName: policy.strategy === 'staged' ? (policy.waves[decision.wave]?.name ?? '') : '',
    gate: decision.gate,
    message: decision.message,
    rejectReasons: grouped(rejected),
    unhealthy: grouped(unhealthy),
    ...(decision.check ? { check: decision.check } : {}),
    checks: checks.map((c) => ({ ...c, samples: c.samples.slice(-10) })),
  };
}
