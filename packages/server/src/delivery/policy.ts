import { parsePolicy, type RolloutPolicy } from '@herald/core';

/** A namespace without a stored policy releases every commit at once. */
const defaultPolicy: RolloutPolicy = { strategy: 'immediate' };

export function policyOf(stored: Record<string, unknown> | null): RolloutPolicy {
  return stored ? parsePolicy(stored) : defaultPolicy;
}

/** Only `immediate` namespaces release on commit; `manual` and `staged` ones release by hand. */
export function releasesOnCommit(stored: Record<string, unknown> | null): boolean {
  return policyOf(stored).strategy === 'immediate';
}
