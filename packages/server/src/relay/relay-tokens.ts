import { hashToken, HeraldError, type Clock, type Scope } from '@herald/core';
import { tokenPrincipal, type Principal } from '../principal.js';
import type { RelayCache } from './relay-cache.js';
import { UpstreamRefusal, type Upstream } from './upstream.js';

type RememberedToken = { tokenId: string; name: string; scopes: Scope[] };

/** Past this many cached answers the cache starts afresh, so a flood of made-up tokens cannot grow it without end. */
const maxCachedTokens = 10_000;

/**
 * Downstream tokens, checked upstream (whoami) and cached for a while, refusals too. A token the
 * upstream accepted is remembered by hash on disk, so that it still works while the upstream is
 * away, also after a restart (static stability); one the upstream refuses is forgotten.
 */
export class RelayTokens {
  readonly #upstream: Upstream;
  readonly #cache: RelayCache;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #refusedCacheMs: number;
  readonly #answers = new Map<string, { principal?: Principal; until: number }>();
  #remembered: Record<string, RememberedToken> = {};

  constructor(deps: { upstream: Upstream; cache: RelayCache; clock: Clock; cacheMs: number; refusedCacheMs: number }) {
    this.#upstream = deps.upstream;
    this.#cache = deps.cache;
    this.#clock = deps.clock;
    this.#cacheMs = deps.cacheMs;
    this.#refusedCacheMs = deps.refusedCacheMs;
  }

  /** Reads the tokens remembered on disk (the cache must be open). */
  async load(): Promise<void> {
    this.#remembered = await this.#cache.readTokens();
  }

  /** The principal behind a bearer token, or `unauthenticated`. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (!token) throw new HeraldError('unauthenticated', 'send a bearer token in the Authorization header');
    const hash = hashToken(token);
    const now = this.#clock.now();
    const cached = this.#answers.get(hash);
    if (cached && cached.until > now) {
      if (cached.principal) return cached.principal;
      throw new HeraldError('unauthenticated', 'the token is unknown, revoked or expired');
    }
    if (this.#answers.size >= maxCachedTokens) this.#answers.clear();
    try {
      const who = await this.#upstream.whoami(token);
      const principal = tokenPrincipal({ id: who.tokenId, name: who.name, scopes: who.scopes });
      this.#answers.set(hash, { principal, until: now + this.#cacheMs });
      if (!this.#remembered[hash]) {
        this.#remembered[hash] = who;
        void this.#cache.writeTokens(this.#remembered).catch(() => undefined);
      }
      return principal;
    } catch (error) {
      if (error instanceof UpstreamRefusal) {
        this.#answers.set(hash, { until: now + this.#refusedCacheMs });
        delete this.#remembered[hash];
        throw new HeraldError('unauthenticated', 'the token is unknown, revoked or expired');
      }
      // The upstream is away: a token it validated before still works (static stability).
      const remembered = this.#remembered[hash];
      if (remembered)
        return tokenPrincipal({ id: remembered.tokenId, name: remembered.name, scopes: remembered.scopes });
      throw error;
    }
  }
}
