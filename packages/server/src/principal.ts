import {
  allows,
  allowsSecrets,
  HeraldError,
  isSystemAdmin,
  type AuditInput,
  type Permission,
  type Scope,
} from '@herald/core';

/** Who is calling: the token that authenticated the request. */
export interface Principal {
  tokenId: string;
  name: string;
  scopes: readonly Scope[];
}

/** How the principal appears in audit records and commit authors. */
export function actorOf(principal: Principal): string {
  return principal.name ? `${principal.name} (${principal.tokenId})` : principal.tokenId;
}

/** The audit record of something the principal did. */
export function auditBy(
  principal: Principal,
  action: string,
  target: string,
  details: Record<string, unknown> = {},
): AuditInput {
  return { actor: actorOf(principal), action, target, details };
}

export function requirePermission(principal: Principal, permission: Permission, namespace: string): void {
  if (!allows(principal.scopes, permission, namespace)) {
    throw new HeraldError('forbidden', `token ${principal.tokenId} may not ${permission} namespace "${namespace}"`);
  }
}

export function requireSystemAdmin(principal: Principal): void {
  if (!isSystemAdmin(principal.scopes)) {
    throw new HeraldError('forbidden', `token ${principal.tokenId} is not an administrator of every namespace`);
  }
}

/** Whether the principal may see the namespace at all (lists leave out the ones it may not). */
export function canSee(principal: Principal, namespace: string): boolean {
  return allows(principal.scopes, 'view', namespace);
}

export function canReadSecrets(principal: Principal, namespace: string): boolean {
  return allowsSecrets(principal.scopes, namespace);
}
