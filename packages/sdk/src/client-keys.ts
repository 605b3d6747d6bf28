import type { PublicKeyInfo, TrustStore } from '@herald/core';
import type { CachedKeysFile, DiskCache } from './cache.js';
import type { ClientStatus } from './client-types.js';
import { isUsableKey, KeyRing } from './keyring.js';
import { endpoint, requestHeaders, type ResolvedOptions } from './options.js';

const keysRequestTimeoutMs = 10_000;
const keysRefreshMinIntervalMs = 10_000;

/**
 * The watch client's trust, kept in step with the server: keys presented in `hello` and `keys`
 * events (pinned on first use in 'tofu' mode, else trusted only through endorsements), fetched
 * from GET /v1/keys when a manifest names a key not yet trusted, and written to the cache when
 * they change. Says what it did in status events.
 */
export class ClientKeys {
  readonly #ring: KeyRing;
  readonly #options: ResolvedOptions;
  readonly #cache: DiskCache | undefined;
  readonly #status: (status: ClientStatus) => void;
  /** Aborted when the client stops: cuts a refresh in flight. */
  readonly #signal: AbortSignal;
  #lastRefresh = Number.NEGATIVE_INFINITY;

  constructor(deps: {
    options: ResolvedOptions;
    cache: DiskCache | undefined;
    status: (status: ClientStatus) => void;
    signal: AbortSignal;
  }) {
    this.#options = deps.options;
    this.#ring = new KeyRing(deps.options.trustedKeys);
    this.#cache = deps.cache;
    this.#status = deps.status;
    this.#signal = deps.signal;
  }

  get trust(): TrustStore {
    return this.#ring.trust;
  }

  /** The keys file of the cache, read at start. */
  restore(file: CachedKeysFile): void {
    this.#ring.restore(file);
  }

  /** The keys of a `hello`: pinned when the client awaits its first keys, else learned. */
  async presented(presented: readonly PublicKeyInfo[]): Promise<void> {
    const keys = presented.filter(isUsableKey);
    if (this.#ring.awaitingFirstUse && keys.length > 0) await this.#pinFirstUse(keys);
    else if (keys.length > 0) await this.learn(keys);
  }

  /** Published keys (a `keys` event): those endorsed by a trusted key become trusted. */
  async learn(keys: readonly unknown[]): Promise<void> {
    const { learned, changed } = this.#ring.learn(keys.filter(isUsableKey));
    if (learned.length > 0) this.#status({ type: 'keys-learned', keyIds: learned });
    if (changed) await this.#persist();
  }

  /** GET /v1/keys, at most every 10 s: a manifest named a key not (yet) trusted. True when trust grew. */
  async refresh(): Promise<boolean> {
    const now = this.#options.clock.now();
    if (now - this.#lastRefresh < keysRefreshMinIntervalMs) return false;
    this.#lastRefresh = now;
    try {
      const response = await this.#options.fetch(endpoint(this.#options, 'v1/keys'), {
        headers: requestHeaders(this.#options, { accept: 'application/json' }),
        signal: AbortSignal.any([this.#signal, AbortSignal.timeout(keysRequestTimeoutMs)]),
      });
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        return false;
      }
      const body = (await response.json()) as { keys?: unknown };
      if (!Array.isArray(body.keys)) return false;
      const keys = body.keys.filter(isUsableKey);
      const before = this.#ring.trust.size;
      if (this.#ring.awaitingFirstUse) await this.#pinFirstUse(keys);
      else await this.learn(keys);
      return this.#ring.trust.size > before;
    } catch {
      return false;
    }
  }

  async #pinFirstUse(keys: PublicKeyInfo[]): Promise<void> {
    const pinned = this.#ring.pinOnFirstUse(keys);
    if (pinned.length === 0) return;
    this.#status({
      type: 'trusted-on-first-use',
      keys: pinned.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey })),
    });
    await this.#persist();
  }

  async #persist(): Promise<void> {
    if (!this.#cache) return;
    try {
      await this.#cache.writeKeys(this.#ring.toFile());
    } catch (error) {
      this.#status({ type: 'cache-error', error: error as Error });
    }
  }
}
