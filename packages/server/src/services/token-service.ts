import { hashToken, HeraldError, issueToken, tokenLineage, type Clock, type Scope } from '@herald/core';
import type { Store, TokenRecord } from '@herald/store';
import { actorOf, auditBy, requireSystemAdmin, tokenPrincipal, type Principal } from '../principal.js';

export interface TokenView {
  id: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface TokenInput {
  name?: string;
  scopes: Scope[];
  expiresInSeconds?: number;
}

export type TokenStore = Pick<Store, 'findToken' | 'createToken' | 'listTokens' | 'revokeToken' | 'rotateToken'>;

/** The overlap of a rotation when none is asked for: long enough to roll a token file out to a fleet. */
export const defaultRotationOverlapSeconds = 24 * 3600;

const maxCachedTokens = 10_000;

/** Bearer tokens: who a secret belongs to, and issuing, listing and revoking them (system admins only). */
export class TokenService {
  readonly #store: TokenStore;
  readonly #clock: Clock;
  /**
   * Token lookups are cached briefly: a store query per request would be most of a small
   * request's cost on PostgreSQL. A revocation on this node takes effect at once; on other nodes
   * within `cacheMs`.
   */
  readonly #cache = new Map<string, { record: TokenRecord | undefined; until: number }>();
  readonly #cacheMs: number;

  constructor(deps: { store: TokenStore; clock: Clock; cacheMs?: number }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#cacheMs = deps.cacheMs ?? 0;
  }

  /**
   * The principal behind a bearer token: `unauthenticated` for a missing, unknown or revoked one,
   * `token_expired` for one past its expiry (so a client knows to pick up its successor).
   */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token) throw new HeraldError('unauthenticated', 'send a bearer token in the Authorization header');
    const hash = hashToken(token);
    const now = this.#clock.now();
    let cached = this.#cache.get(hash);
    if (!cached || cached.until <= now) {
      const record = await this.#store.findToken(hash);
      if (this.#cache.size >= maxCachedTokens) this.#cache.clear();
      cached = { record, until: now + this.#cacheMs };
      this.#cache.set(hash, cached);
    }
    const { record } = cached;
    if (!record || record.revokedAt !== null)
      throw new HeraldError('unauthenticated', 'the token is unknown or revoked');
    if (record.expiresAt !== null && record.expiresAt <= now) {
      throw new HeraldError(
        'token_expired',
        `token ${record.id} expired at ${new Date(record.expiresAt).toISOString()}; use its successor or a new token`,
      );
    }
    return tokenPrincipal(record);
  }

  async createToken(principal: Principal, input: TokenInput): Promise<{ token: string; info: TokenView }> {
    requireSystemAdmin(principal);
    if (input.scopes.length === 0) throw new HeraldError('invalid_request', 'a token needs at least one scope');
    if (input.name?.includes('\u0000'))
      throw new HeraldError('invalid_request', 'the token name must not contain U+0000');
    const issued = issueToken();
    const record = tokenRecord(principal, input, issued, this.#clock.now());
    await this.#store.createToken(
      record,
      auditBy(principal, 'token.create', `token:${issued.id}`, { name: record.name, scopes: record.scopes }),
    );
    return { token: issued.token, info: tokenView(record) };
  }

  async listTokens(principal: Principal): Promise<TokenView[]> {
    requireSystemAdmin(principal);
    return (await this.#store.listTokens()).map(tokenView);
  }

  /**
   * A successor with the same name and scopes (and the same lifetime, when the old one had an
   * expiry); the old token stays valid for `overlapSeconds` more, so both work while clients switch.
   */
  async rotateToken(
    principal: Principal,
    id: string,
    overlapSeconds = defaultRotationOverlapSeconds,
  ): Promise<{ token: string; info: TokenView; previous: TokenView }> {
    requireSystemAdmin(principal);
    if (!Number.isSafeInteger(overlapSeconds) || overlapSeconds < 0)
      throw new HeraldError('invalid_request', 'the overlap must be a whole number of seconds, 0 or more');
    const now = this.#clock.now();
    const old = (await this.#store.listTokens()).find((t) => t.id === id);
    if (!old) throw new HeraldError('token_not_found', `token ${id} does not exist`);
    const lifetimeSeconds = old.expiresAt === null ? undefined : Math.round((old.expiresAt - old.createdAt) / 1000);
    const fresh = issueToken();
    // The successor keeps the lineage, so the instances bound to the old token stay bound.
    const issued = { ...fresh, id: `${tokenLineage(old.id)}.${fresh.id}` };
    const successor = tokenRecord(
      principal,
      {
        name: old.name,
        scopes: old.scopes,
        ...(lifetimeSeconds === undefined ? {} : { expiresInSeconds: lifetimeSeconds }),
      },
      issued,
      now,
    );
    const previous = await this.#store.rotateToken(
      id,
      successor,
      now + overlapSeconds * 1000,
      auditBy(principal, 'token.rotate', `token:${id}`, { successor: issued.id, overlapSeconds }),
    );
    this.#cache.clear();
    return { token: issued.token, info: tokenView(successor), previous: tokenView(previous) };
  }

  async revokeToken(principal: Principal, id: string): Promise<TokenView> {
    requireSystemAdmin(principal);
    const revoked = tokenView(
      await this.#store.revokeToken(id, this.#clock.now(), auditBy(principal, 'token.revoke', `token:${id}`)),
    );
    this.#cache.clear();
    return revoked;
  }
}

/** The record of a token issued now by `principal` (bearer tokens and Azure access keys alike). */
export function tokenRecord(
  principal: Principal,
  input: TokenInput,
  issued: { id: string; tokenHash: string },
  now: number,
): TokenRecord {
  return {
    id: issued.id,
    name: input.name ?? '',
    scopes: input.scopes,
    tokenHash: issued.tokenHash,
    createdAt: now,
    createdBy: actorOf(principal),
    expiresAt: input.expiresInSeconds === undefined ? null : now + input.expiresInSeconds * 1000,
    revokedAt: null,
  };
}

export function tokenView(record: TokenRecord): TokenView {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: record.id,
    name: record.name,
    scopes: record.scopes,
    createdAt: new Date(record.createdAt).toISOString(),
    createdBy: record.createdBy,
    expiresAt: iso(record.expiresAt),
    revokedAt: iso(record.revokedAt),
  };
}
