import { HeraldError } from './errors.js';

/**
 * A namespace's approval rule: how many approvals a change needs, from whom, and whether releases
 * need them too. `approvers` names tokens (by name or id) and, when given, only they approve; any
 * token allowed to make the change (write for a commit, release for a release) otherwise.
 */
export interface ApprovalRule {
  required: number;
  approvers?: string[];
  releases: boolean;
}

const maxRequired = 10;

/** Checks an approval rule as given by a user; `required: 0` (or null) turns approvals off and gives null. */
export function parseApprovalRule(input: unknown): ApprovalRule | null {
  if (input === null) return null;
  if (typeof input !== 'object' || Array.isArray(input))
    throw new HeraldError('invalid_request', 'approval must be an object {required, approvers?, releases?}');
  const { required, approvers, releases, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new HeraldError('invalid_request', `approval: unknown field "${unknown[0]}"`);
  if (typeof required !== 'number' || !Number.isInteger(required) || required < 0 || required > maxRequired)
    throw new HeraldError('invalid_request', `approval.required must be a whole number from 0 to ${maxRequired}`);
  if (required === 0) return null;
  if (
    approvers !== undefined &&
    (!Array.isArray(approvers) ||
      approvers.length === 0 ||
      approvers.length > 100 ||
      approvers.some((a) => typeof a !== 'string' || a.length === 0 || a.length > 200))
  )
    throw new HeraldError('invalid_request', 'approval.approvers must be a non-empty list of token names or ids');
  if (releases !== undefined && typeof releases !== 'boolean')
    throw new HeraldError('invalid_request', 'approval.releases must be true or false');
  return {
    required,
    ...(approvers === undefined ? {} : { approvers: approvers as string[] }),
    releases: releases ?? false,
  };
}
