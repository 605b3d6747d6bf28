import { randomBytes } from 'node:crypto';
import { checkNamespaceName, HeraldError, issueToken, type Clock, type Scope, type SecretCipher } from '@herald/core';
import type { Store, TokenRecord } from '@herald/store';
import { auditBy, requireSystemAdmin, tokenPrincipal, type Principal } from '../principal.js';
import { tokenRecord, type TokenInput } from '../services/token-service.js';

/**
 * Access keys for the Azure App Configuration API: the Id and Secret of a connection string.
 *
 * An access key is a Herald token (listed, revoked and expired like any token, with the same
 * scopes and roles) that also has an HMAC secret. HMAC verification needs the secret itself, not a
 * hash of it, so the store keeps it encrypted with the server's secret key (AES-256-GCM, bound to
 * the key id), as it keeps secret values and signing keys. The token row's hash is of a random
 * string nobody is given: an access key cannot be used as a bearer token.
 *
 * An access key is bound to exactly one namespace, which is the Azure "store" it sees: Azure keys
 * and labels are that namespace's keys and labels.
 */

export interface AccessKeyCaller {
  principal: Principal;
  /** The namespace the key is bound to. */
  namespace: string;
}

interface Resolved extends AccessKeyCaller {
  token: TokenRecord;
  secret: Buffer;
}

const maxCached = 10_000;

/** Roles that can read entries; `client` only fetches delivered views, which this API does not serve. */
const accessKeyRoles = new Set<Scope['role']>(['admin', 'writer', 'releaser', 'reader']);

export function accessKeyAssociatedData(id: string): string {
  return `azure-access-key\u0000${id}`;
}

export class AccessKeys {
  readonly #store: Store;
  readonly #cipher: SecretCipher;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, { resolved: Resolved | undefined; until: number }>();

  constructor(deps: { store: Store; cipher: SecretCipher; clock: Clock; cacheMs: number }) {
    this.#store = deps.store;
    this.#cipher = deps.cipher;
    this.#clock = deps.clock;
    this.#cacheMs = deps.cacheMs;
  }

  /** Creates an access key (admin of `*` only, like any token); the secret is in the result only. */
  async create(principal: Principal, input: TokenInput): Promise<{ id: string; secret: string; token: TokenRecord }> {
    requireSystemAdmin(principal);
    const [scope, ...others] = input.scopes;
    if (!scope || others.length > 0) {
      throw new HeraldError(
        'invalid_request',
        'an access key has exactly one scope: the one namespace it serves as an Azure App Configuration store',
      );
    }
    try {
      checkNamespaceName(scope.namespaces);
    } catch {
      throw new HeraldError(
        'invalid_request',
        `an access key serves one namespace, so its scope must name one ("${scope.namespaces}" is not a namespace name)`,
      );
    }
    if (!accessKeyRoles.has(scope.role)) {
      throw new HeraldError(
        'invalid_request',
        `an access key needs a role that can read entries (admin, writer, releaser or reader), not ${scope.role}`,
      );
    }
    const id = issueToken().id;
    // The token row needs a hash; this one is of a string no one is given, so the key is HMAC only.
    const unusable = issueToken();
    const secret = randomBytes(32).toString('base64');
    const token = tokenRecord(
      principal,
      { ...input, scopes: [scope] },
      { id, tokenHash: unusable.tokenHash },
      this.#clock.now(),
    );
    await this.#store.createAccessKey(
      { token, encryptedSecret: this.#cipher.encrypt(secret, accessKeyAssociatedData(id)) },
      auditBy(principal, 'token.create', `token:${id}`, { name: token.name, scopes: token.scopes, azure: true }),
    );
    return { id, secret, token };
  }

  /**
   * The caller behind a Credential id, with the HMAC secret to check its signature; `unauthenticated`
   * for an unknown, revoked or expired key. Lookups are cached for the token cache time, so a
   * revocation takes effect within it, on every node.
   */
  async resolve(id: string): Promise<Resolved> {
    const now = this.#clock.now();
    let cached = this.#cache.get(id);
    if (!cached || cached.until <= now) {
      const found = await this.#store.findAccessKey(id);
      const resolved: Resolved | undefined = found && {
        token: found.token,
        secret: Buffer.from(this.#cipher.decrypt(found.encryptedSecret, accessKeyAssociatedData(id)), 'base64'),
        namespace: (found.token.scopes[0] as Scope).namespaces,
        principal: tokenPrincipal(found.token),
      };
      if (this.#cache.size >= maxCached) this.#cache.clear();
      cached = { resolved, until: now + this.#cacheMs };
      this.#cache.set(id, cached);
    }
    const { resolved } = cached;
    if (
      !resolved ||
      resolved.token.revokedAt !== null ||
      (resolved.token.expiresAt !== null && resolved.token.expiresAt <= now)
    ) {
      throw new HeraldError('unauthenticated', 'Invalid Credential', {
        extensions: { wwwAuthenticate: 'Invalid Credential' },
      });
    }
    return resolved;
  }
}
