import { randomBytes } from 'node:crypto';
import { sha256 } from './sha256.js';

export const roles = ['admin', 'writer', 'releaser', 'reader', 'client'] as const;
export type Role = (typeof roles)[number];

/** What a role may do inside the namespaces its scope matches. */
export type Permission =
  | 'read' // entries, history, diffs, schema (secrets redacted)
  | 'write' // commits, locks, reverts
  | 'release' // releases and rollouts
  | 'view' // resolved views, as fleet clients fetch them
  | 'manage'; // create and delete namespaces, set schemas and policies

const permissionsByRole: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(['read', 'write', 'release', 'view', 'manage']),
  writer: new Set(['read', 'write', 'view']),
  releaser: new Set(['read', 'release', 'view']),
  reader: new Set(['read', 'view']),
  client: new Set(['view']),
};

/** A namespace glob (`*` any run of characters, `?` one) with a role, optionally allowed to read secrets. */
export interface Scope {
  namespaces: string;
  role: Role;
  secrets?: boolean;
  /**
   * A relay's credential: the reports it forwards for its clients bind each instance to the
   * client's own credential, as if the client had reported directly, so an instance that fails
   * over between relays and the control plane stays one record. Without it, a forwarded report
   * binds the instance to this credential and the client's together, kept apart from the client's
   * direct reports.
   */
  relay?: boolean;
}

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

export function globMatches(glob: string, name: string): boolean {
  const pattern = glob
    .replace(/[.+^${}()|[\]\\]/gu, '\\$&')
    .replace(/\*/gu, '.*')
    .replace(/\?/gu, '.');
  return new RegExp(`^${pattern}$`, 'u').test(name);
}

export function allows(scopes: readonly Scope[], permission: Permission, namespace: string): boolean {
  return scopes.some(
    (scope) => permissionsByRole[scope.role].has(permission) && globMatches(scope.namespaces, namespace),
  );
}

/** Admins read secrets; other roles only when their scope says so. */
export function allowsSecrets(scopes: readonly Scope[], namespace: string): boolean {
  return scopes.some(
    (scope) => (scope.role === 'admin' || scope.secrets === true) && globMatches(scope.namespaces, namespace),
  );
}

/** Whether the credential may speak for its clients' instances in the namespace (a relay's, or an admin's). */
export function allowsRelaying(scopes: readonly Scope[], namespace: string): boolean {
  return scopes.some(
    (scope) => (scope.role === 'admin' || scope.relay === true) && globMatches(scope.namespaces, namespace),
  );
}

/** Store-wide administration (tokens, audit, compaction) needs admin over every namespace. */
export function isSystemAdmin(scopes: readonly Scope[]): boolean {
  return scopes.some((scope) => scope.role === 'admin' && scope.namespaces === '*');
}

export interface IssuedToken {
  /** Public handle for listing and revoking; not a credential. */
  id: string;
  /** The whole bearer token; shown once, never stored. */
  token: string;
  /** What the store keeps and looks tokens up by: SHA-256 of the whole token. */
  tokenHash: string;
}

export function issueToken(): IssuedToken {
  return withHash(randomBytes(8).toString('hex'), `hrd_${randomBytes(32).toString('base64url')}`);
}

/**
 * The identity a token keeps across rotations: a successor's id is `<lineage>.<its own id>`, so
 * what is bound to a credential (the instances it reported) stays bound after a rotation.
 */
export function tokenLineage(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}

/** The operator-chosen bootstrap token (HERALD_ADMIN_TOKEN) is any string; only its hash is kept. */
export function tokenFromSecret(id: string, token: string): IssuedToken {
  return withHash(id, token);
}

/**
 * Tokens are looked up by their SHA-256, which is safe against timing attacks because the tokens
 * carry 256 bits of entropy: learning a prefix of a hash gives nothing about another token.
 */
export function hashToken(token: string): string {
  return sha256(token, 'hex');
}

function withHash(id: string, token: string): IssuedToken {
  return { id, token, tokenHash: hashToken(token) };
}
