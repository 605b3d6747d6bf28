// What a token may do, from its scopes (GET /v1/whoami), mirroring @herald/core's access rules so
// the UI offers only what the server would allow. The server still decides: a 403's detail is shown.
import type { Role, Scope } from './types.js';

export type Permission = 'read' | 'write' | 'release' | 'view' | 'manage';

const permissionsByRole: Record<Role, readonly Permission[]> = {
  admin: ['read', 'write', 'release', 'view', 'manage'],
  writer: ['read', 'write', 'view'],
  releaser: ['read', 'release', 'view'],
  reader: ['read', 'view'],
  client: ['view'],
};

export function globMatches(glob: string, name: string): boolean {
  const pattern = glob
    .replace(/[.+^${}()|[\]\\]/gu, '\\$&')
    .replace(/\*/gu, '.*')
    .replace(/\?/gu, '.');
  return new RegExp(`^${pattern}$`, 'u').test(name);
}

export function allows(scopes: readonly Scope[], permission: Permission, namespace: string): boolean {
  return scopes.some(
    (scope) => (permissionsByRole[scope.role] ?? []).includes(permission) && globMatches(scope.namespaces, namespace),
  );
}

/** Whether the token may read the namespace's secrets (and so reveal them), as the server decides. */
export function allowsSecrets(scopes: readonly Scope[], namespace: string): boolean {
  return scopes.some(
    (scope) => (scope.role === 'admin' || scope.secrets === true) && globMatches(scope.namespaces, namespace),
  );
}

/** Tokens, audit, freeze-all: admin of every namespace. */
export function isSystemAdmin(scopes: readonly Scope[]): boolean {
  return scopes.some((scope) => scope.role === 'admin' && scope.namespaces === '*');
}

/** Whether some namespace name could be created (manage on some glob). */
export function canManageSome(scopes: readonly Scope[]): boolean {
  return scopes.some((scope) => scope.role === 'admin');
}

export function describeScopes(scopes: readonly Scope[]): string {
  return scopes.map((s) => `${s.role} of ${s.namespaces}${s.secrets ? ' (+secrets)' : ''}`).join(', ');
}

/** A sentence for an action the token may not take, naming what it has. */
export function notAllowed(scopes: readonly Scope[], permission: Permission, namespace: string): string {
  return `Your token (${describeScopes(scopes) || 'no scopes'}) may not ${permission} namespace "${namespace}".`;
}
