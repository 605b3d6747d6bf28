import {
  allows,
  allowsSecrets,
  HeraldError,
  isSystemAdmin,
  type AuditInput,
  type Permission,
  type Scope,
} from '@herald/core';

/** Who is calling: the token or the client certificate that authenticated the request. */
export interface Principal {
  /** The token's id; for a client certificate, `cert:` and the first 16 hex digits of its fingerprint. */
  tokenId: string;
  /**
   * The credential itself, stable for as long as it lives: `token:<id>` for a token or access key,
   * `cert:sha256:<hex>` (the certificate's SHA-256 fingerprint) for a client certificate. What an
   * instance id is bound to; a rotated token gets a new one.
   */
  credentialId: string;
  name: string;
  scopes: readonly Scope[];
  /**
   * What the caller asked to override for this one request, each with its reason (the
   * Herald-Bypass-Approval and Herald-Override-Window headers): admins only, and audited where used.
   */
  overrides?: { approval?: string; window?: string };
}

/** The principal of a token (or access key) record. */
export function tokenPrincipal(token: { id: string; name: string; scopes: readonly Scope[] }): Principal {
  return { tokenId: token.id, credentialId: `token:${token.id}`, name: token.name, scopes: token.scopes };
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
