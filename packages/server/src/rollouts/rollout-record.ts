import {
  formatPolicy,
  parsePolicy,
  parseRolloutState,
  type RolloutPolicy,
  type RolloutState,
  type WaveObservation,
} from '@herald/core';
import type { RolloutRecord } from '@herald/store';
import type { WaveFailure } from './wave-failure.js';

/** A rollout as the server works with it: the machine's state and the policy it started with. */
export interface Rollout {
  record: RolloutRecord;
  state: RolloutState;
  /** The namespace's policy when the rollout started: a policy edit never changes a rollout under way. */
  policy: RolloutPolicy;
  /** The counts the rollout ended on: after it ends the fleet moves on, and status must still show why. */
  finalObservation?: WaveObservation;
  /** Why a wave failed, kept when it did (wave-failure.ts). */
  failure?: WaveFailure;
  /** On a rollback: the digest of the candidate's content, which `herald release` then refuses to ship again. */
  candidateDigest?: string;
}

export function fromRecord(record: RolloutRecord): Rollout {
  const stored = record.state as {
    machine?: unknown;
    policy?: unknown;
    finalObservation?: WaveObservation;
    failure?: WaveFailure;
    candidateDigest?: unknown;
  };
  return {
    record,
    state: parseRolloutState(stored.machine),
    policy: parsePolicy(stored.policy),
    ...(stored.finalObservation ? { finalObservation: stored.finalObservation } : {}),
    ...(stored.failure ? { failure: stored.failure } : {}),
    ...(typeof stored.candidateDigest === 'string' ? { candidateDigest: stored.candidateDigest } : {}),
  };
}

export function toStoredState(
  state: RolloutState,
  policy: RolloutPolicy,
  finalObservation?: WaveObservation,
  extra: { failure?: WaveFailure | undefined; candidateDigest?: string | undefined } = {},
): Record<string, unknown> {
  return {
    machine: state,
    policy: formatPolicy(policy),
    ...(finalObservation ? { finalObservation } : {}),
    ...(extra.failure ? { failure: extra.failure } : {}),
    ...(extra.candidateDigest ? { candidateDigest: extra.candidateDigest } : {}),
  };
}
