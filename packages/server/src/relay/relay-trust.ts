import { HeraldError, TrustStore, type PublicKeyInfo, type Scope } from '@herald/core';
import { verifySnapshot, type VerifiedView } from '@herald/sdk/internal';
import type { RelayCache } from './relay-cache.js';
import { UpstreamRefusal, type Upstream } from './upstream.js';

/**
 * What a relay trusts and who it is upstream: the keys it verifies views with (pinned, or
 * trusted on first contact and then pinned in the cache), the keys it publishes downstream, and
 * its own token's scopes (which namespaces it receives with secrets). All of it survives a
 * restart with no upstream, from the cache.
 */
export class RelayTrust {
  readonly #upstream: Upstream;
  readonly #cache: RelayCache;
  readonly #pinned: readonly PublicKeyInfo[] | 'tofu';
  readonly #onTrustOnFirstUse: (keys: PublicKeyInfo[]) => void;
  readonly #onLearned: (keys: PublicKeyInfo[]) => void;
  readonly #trust = new TrustStore();
  #published: PublicKeyInfo[] = [];
  #audience: Scope[] = [];

  /** `onLearned` hears of keys the upstream endorsed since (a rotation), to tell downstream streams. */
  constructor(deps: {
    upstream: Upstream;
    cache: RelayCache;
    pinned: readonly PublicKeyInfo[] | 'tofu';
    onTrustOnFirstUse: (keys: PublicKeyInfo[]) => void;
    onLearned: (keys: PublicKeyInfo[]) => void;
  }) {
    this.#upstream = deps.upstream;
    this.#cache = deps.cache;
    this.#pinned = deps.pinned;
    this.#onTrustOnFirstUse = deps.onTrustOnFirstUse;
    this.#onLearned = deps.onLearned;
  }

  /** How many keys it trusts: none means it cannot serve. */
  get size(): number {
    return this.#trust.size;
  }

  /** The keys downstream clients are told of. */
  published(): PublicKeyInfo[] {
    return this.#published;
  }

  /** The scopes of the relay's own token. */
  audience(): readonly Scope[] {
    return this.#audience;
  }

  /** Loads the keys and audience from the upstream, or from the cache when it is away. */
  async load(): Promise<void> {
    const pinned = this.#pinned === 'tofu' ? await this.#cache.readKeys() : [...this.#pinned];
    if (pinned) for (const key of pinned) this.#trust.add(key);
    try {
      this.#published = await this.#upstream.keys();
      if (!pinned) {
        // Trust on first use: the upstream's keys now, pinned in the cache from here on.
        for (const key of this.#published) this.#trust.add(key);
        await this.#cache.writeKeys(this.#published);
        this.#onTrustOnFirstUse(this.#published);
      } else {
        this.#trust.learn(this.#published);
      }
      const me = await this.#upstream.whoami();
      this.#audience = me.scopes;
      await this.#cache.writeAudience(me.scopes);
    } catch (error) {
      if (error instanceof UpstreamRefusal) throw error;
      if (!pinned)
        throw new HeraldError(
          'unavailable',
          `cannot reach ${this.#upstream.url.href} to learn its keys, and no keys are pinned`,
          { cause: error },
        );
      this.#audience = (await this.#cache.readAudience()) ?? [];
      this.#published = (await this.#cache.readKeys()) ?? [...this.#trust.list().map((k) => ({ ...k, createdAt: 0 }))];
    }
  }

  /** Re-reads the upstream's keys and trusts those endorsed by a key it trusts already. */
  async refresh(): Promise<void> {
    const published = await this.#upstream.keys();
    const learned = this.#trust.learn(published);
    this.#published = published;
    if (learned.length > 0) {
      await this.#cache.writeKeys(published.filter((k) => this.#trust.has(k.keyId)));
      this.#onLearned(published);
    }
  }

  /** The signed view in `payload` when it is release `seq` of that view, signed by a trusted key; else undefined. */
  verify(namespace: string, labels: string[], seq: number, payload: unknown): VerifiedView | undefined {
    const verdict = verifySnapshot(payload, { view: { namespace, labels }, held: undefined, trust: this.#trust });
    return verdict.outcome === 'accept' && verdict.view.manifest.seq === seq ? verdict.view : undefined;
  }
}
