/** Which instances a wave targets: the deterministic bucket of (rollout, instance) and attribute matching, so the 1 % of a first wave stay inside the 10 % of the next. */
import type { RolloutPolicy, WaveMatch } from './policy.js';
import { sha256 } from '../sha256.js';

/** Instances fall into this many buckets; a wave of p % takes buckets [0, p × 100). */
export const bucketCount = 10_000;

/** An instance as a wave selector sees it. */
export interface RolloutInstance {
  instanceId: string;
  attributes: Readonly<Record<string, string>>;
}

/**
 * The instance's bucket for this rollout, in [0, 10000): the first 6 bytes of
 * SHA-256(UTF-8 of `rolloutId + "\0" + instanceId`) as a big-endian unsigned integer, modulo
 * 10000. Any party (node, relay, another language) computes the same bucket; the rollout id in
 * the hash means a new rollout draws a fresh 1 %, so the same instances are not always the canaries.
 */
export function bucketOf(rolloutId: string, instanceId: string): number {
  const digest = sha256(`${rolloutId}\0${instanceId}`, 'buffer');
  // 2^48 is not a multiple of 10000, but the bias it leaves is below 4e-11: nothing to correct.
  return digest.readUIntBE(0, 6) % bucketCount;
}

/** Whether the instance's attributes satisfy a wave's match (absent or empty: everyone does). */
export function matchesWave(match: WaveMatch | undefined, attributes: Readonly<Record<string, string>>): boolean {
  if (match === undefined) return true;
  for (const [attribute, allowed] of Object.entries(match)) {
    const value = Object.hasOwn(attributes, attribute) ? attributes[attribute] : undefined;
    if (value === undefined || !allowed.includes(value)) return false;
  }
  return true;
}

/**
 * The first wave that selects the instance, or undefined when none does (which cannot happen
 * with a valid staged policy, whose last wave is everyone). Not staged: 0, everyone at once.
 */
export function firstWaveOf(policy: RolloutPolicy, rolloutId: string, instance: RolloutInstance): number | undefined {
  if (policy.strategy !== 'staged') return 0;
  let bucket: number | undefined;
  for (const [index, wave] of policy.waves.entries()) {
    if (!matchesWave(wave.match, instance.attributes)) continue;
    bucket ??= bucketOf(rolloutId, instance.instanceId);
    if (bucket < Math.round(wave.percent * 100)) return index;
  }
  return undefined;
}

/**
 * Whether wave `waveIndex` of the rollout targets the instance: true when some wave j ≤ waveIndex
 * matches its attributes and its bucket is below percent_j × 100. So an instance in an earlier
 * wave stays in every later one. A policy that is not staged targets everyone.
 */
export function isTargeted(
  policy: RolloutPolicy,
  waveIndex: number,
  rolloutId: string,
  instance: RolloutInstance,
): boolean {
  if (waveIndex < 0) return false;
  const first = firstWaveOf(policy, rolloutId, instance);
  return first !== undefined && first <= waveIndex;
}
