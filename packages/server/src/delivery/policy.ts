/** A namespace's rollout policy. `immediate`: every commit is released at once. `manual`: only `herald release`. */
export interface RolloutPolicy {
  strategy: 'immediate' | 'manual';
}

export const defaultPolicy: RolloutPolicy = { strategy: 'immediate' };

export function policyOf(stored: Record<string, unknown> | null): RolloutPolicy {
  return stored ? (stored as unknown as RolloutPolicy) : defaultPolicy;
}

export function releasesOnCommit(stored: Record<string, unknown> | null): boolean {
  return policyOf(stored).strategy === 'immediate';
}
