import type { FastifyRequest } from 'fastify';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import { globMatches, HeraldError, isRole, type Scope } from '@herald/core';
import type { Principal } from '../principal.js';

/**
 * Which certificates a rule covers: one field of the certificate, matched as a glob (`*` any run of
 * characters, `?` one): the subject's common name, a SAN URI (SPIFFE ids: `spiffe://herald/ns/pay/*`)
 * or a SAN DNS name.
 */
export type ClientIdentityMatch = { cn: string } | { uri: string } | { dns: string };

/** A certificate identity: the certificates it matches, and what they may do (as a token's scopes). */
export interface ClientIdentity {
  match: ClientIdentityMatch;
  scopes: Scope[];
  /** How the identity appears in audit records; default: the matched CN, URI or DNS name. */
  name?: string | undefined;
}

/** Client certificates the server (or a relay) accepts: the CAs that issue them, and their identities. */
export interface ClientCertificateConfig {
  /** The CA bundle (PEM) that client certificates must chain to. */
  ca: string | Buffer;
  /** Checked in order; the first rule that matches gives the scopes. */
  identities: readonly ClientIdentity[];
}

const matchFields = ['cn', 'uri', 'dns'] as const;

/** What is wrong with a list of identities, added to `problems` (a config check). */
export function checkClientIdentities(value: unknown, problems: string[], where = 'tls.clientIdentities'): void {
  if (!Array.isArray(value)) {
    problems.push(`${where} must be an array of {match, scopes}`);
    return;
  }
  value.forEach((rule: unknown, i) => {
    const at = `${where}[${i}]`;
    if (typeof rule !== 'object' || rule === null) {
      problems.push(`${at} must be an object {match, scopes}`);
      return;
    }
    const { match, scopes, name, ...rest } = rule as Record<string, unknown>;
    if (Object.keys(rest).length > 0) problems.push(`${at} has unknown fields: ${Object.keys(rest).join(', ')}`);
    const fields = typeof match === 'object' && match !== null ? Object.entries(match) : [];
    const [field] = fields;
    if (fields.length !== 1 || !field || !(matchFields as readonly string[]).includes(field[0])) {
      problems.push(`${at}.match must have exactly one of cn, uri, dns`);
    } else if (typeof field[1] !== 'string' || field[1].length === 0) {
      problems.push(`${at}.match.${field[0]} must be a non-empty string`);
    }
    if (!Array.isArray(scopes) || scopes.length === 0) problems.push(`${at}.scopes must name at least one scope`);
    else
      scopes.forEach((scope: unknown, j) => {
        const s = scope as Partial<Scope> | null;
        if (
          typeof s !== 'object' ||
          s === null ||
          typeof s.namespaces !== 'string' ||
          s.namespaces.length === 0 ||
          typeof s.role !== 'string' ||
          !isRole(s.role) ||
          (s.secrets !== undefined && typeof s.secrets !== 'boolean') ||
          (s.relay !== undefined && typeof s.relay !== 'boolean')
        )
          problems.push(`${at}.scopes[${j}] must be {namespaces: glob, role, secrets?: boolean, relay?: boolean}`);
      });
    if (name !== undefined && (typeof name !== 'string' || name.length === 0))
      problems.push(`${at}.name must be a non-empty string`);
  });
}

/** The values of one kind in a subjectAltName string (`URI:spiffe://…, DNS:relay.local, IP Address:…`). */
function altNames(certificate: PeerCertificate, kind: 'URI' | 'DNS'): string[] {
  return (certificate.subjectaltname ?? '')
    .split(/,\s*/u)
    .filter((part) => part.startsWith(`${kind}:`))
    .map((part) => part.slice(kind.length + 1));
}

function commonName(certificate: PeerCertificate): string | undefined {
  const cn: unknown = certificate.subject?.CN;
  return typeof cn === 'string' ? cn : Array.isArray(cn) && typeof cn[0] === 'string' ? cn[0] : undefined;
}

/** The value of the certificate that the rule matches, or undefined when it does not. */
function matchedValue(certificate: PeerCertificate, match: ClientIdentityMatch): string | undefined {
  if ('cn' in match) {
    const cn = commonName(certificate);
    return cn !== undefined && globMatches(match.cn, cn) ? cn : undefined;
  }
  if ('uri' in match) return altNames(certificate, 'URI').find((uri) => globMatches(match.uri, uri));
  return altNames(certificate, 'DNS').find((dns) => globMatches(match.dns, dns));
}

/**
 * The principal of the request's client certificate: undefined when the request came without one
 * (or not over TLS); `certificate_untrusted` when the configured CAs do not verify it (another CA,
 * expired, not yet valid); `certificate_unmapped` when no identity matches it. The credential id
 * is the certificate's SHA-256 fingerprint, so a re-issued certificate is a new credential.
 */
export function certificatePrincipal(
  request: FastifyRequest,
  identities: readonly ClientIdentity[],
): Principal | undefined {
  const socket = request.raw.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const certificate = socket.getPeerCertificate();
  if (!certificate || Object.keys(certificate).length === 0) return undefined;
  if (!socket.authorized) {
    throw new HeraldError(
      'certificate_untrusted',
      `the client certificate is not trusted: ${String(socket.authorizationError ?? 'unverified')}`,
    );
  }
  const fingerprint = certificate.fingerprint256.replaceAll(':', '').toLowerCase();
  for (const identity of identities) {
    const matched = matchedValue(certificate, identity.match);
    if (matched === undefined) continue;
    return {
      tokenId: `cert:${fingerprint.slice(0, 16)}`,
      credentialId: `cert:sha256:${fingerprint}`,
      name: identity.name ?? matched,
      scopes: identity.scopes,
    };
  }
  const described = [commonName(certificate) && `CN=${commonName(certificate)}`, certificate.subjectaltname]
    .filter(Boolean)
    .join(', ');
  throw new HeraldError(
    'certificate_unmapped',
    `the client certificate (${described || 'no subject'}) matches no configured client identity`,
  );
}
