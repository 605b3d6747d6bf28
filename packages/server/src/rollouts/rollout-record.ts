import {
  formatPolicy,
  parsePolicy,
  parseRolloutState,
  type RolloutPolicy,
  type RolloutState,
  type WaveObservation,
} from '@herald/core';
import type { RolloutRecord } from '@herald/store';

/** A rollout as the server works with it: the machine's state and the policy it started with. */
export interface Rollout {
  record: RolloutRecord;
  state: RolloutState;
  /** The namespace's policy when the rollout started: a policy edit never changes a rollout under way. */
  policy: RolloutPolicy;
  /** The counts the rollout ended on: after it ends the fleet moves on, and status must still show why. */
  finalObservation?: WaveObservation;
}

export function fromRecord(record: RolloutRecord): Rollout {
  const stored = record.state as { machine?: unknown; policy?: unknown; finalObservation?: WaveObservation };
  return {
    record,
    state: parseRolloutState(stored.machine),
    policy: parsePolicy(stored.policy),
    ...(stored.finalObservation ? { finalObservation: stored.finalObservation } : {}),
  };
}

export function toStoredState(
  state: RolloutState,
  policy: RolloutPolicy,
  finalObservation?: WaveObservation,
): Record<string, unknown> {
  return { machine: state, policy: formatPolicy(policy), ...(finalObservation ? { finalObservation } : {}) };
}
