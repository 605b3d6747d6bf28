/** Reading a persisted rollout state back, refusing anything that is not one (the store holds JSON). */
import { HeraldError } from '../errors.js';
import { isPlainObject } from './helpers.js';
import { type RolloutState, rolloutStateNames } from './machine.js';

/**
 * Checks that a value loaded from storage is a RolloutState, and returns it typed. A stored state
 * that does not fit is a bug or corruption, not a client's mistake: `internal` (500).
 */
export function parseRolloutState(input: unknown): RolloutState {
  const bad = (what: string): never => {
    throw new HeraldError('internal', `stored rollout state is not valid: ${what}`);
  };
  if (!isPlainObject(input)) return bad('not an object');
  for (const field of ['id', 'namespace'] as const)
    if (typeof input[field] !== 'string') bad(`${field} is not a string`);
  for (const field of ['fromSeq', 'toSeq', 'wave', 'waveStartedAt', 'startedAt', 'updatedAt', 'bakedMs'] as const) {
    const value = input[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) bad(`${field} is not a number ≥ 0`);
  }
  if (typeof input.state !== 'string' || !(rolloutStateNames as readonly string[]).includes(input.state))
    bad('state is not a rollout state');
  if (input.pausedAt !== undefined && typeof input.pausedAt !== 'number') bad('pausedAt is not a number');
  if (input.resumedAt !== undefined && typeof input.resumedAt !== 'number') bad('resumedAt is not a number');
  if (input.frozenFrom !== undefined && input.frozenFrom !== 'running' && input.frozenFrom !== 'paused')
    bad('frozenFrom is not running or paused');
  if (input.reason !== undefined && typeof input.reason !== 'string') bad('reason is not a string');
  if (!Array.isArray(input.history)) return bad('history is not a list');
  for (const entry of input.history as unknown[]) {
    if (!isPlainObject(entry) || typeof entry.at !== 'number' || typeof entry.wave !== 'number')
      bad('a history entry is malformed');
    const e = entry as Record<string, unknown>;
    for (const field of ['from', 'to', 'actor', 'reason'])
      if (typeof e[field] !== 'string') bad(`a history entry's ${field} is not a string`);
  }
  return input as unknown as RolloutState;
}
