import { publicKeyFromRaw, TrustStore, type PublicKeyInfo } from '@herald/core';

/**
 * The keys a client trusts. Roots are the keys given in `trustedKeys`, or, with 'tofu', the keys
 * the server presented on first contact (pinned in the cache from then on). Every other key is
 * trusted only through an endorsement chain from a root (`TrustStore.learn`), whether it came in a
 * `hello` or `keys` event, from `GET /v1/keys`, or from the cache file — so a tampered keys file can
 * add no trust in 'pinned' mode.
 */
export class KeyRing {
  readonly trust = new TrustStore();
  readonly mode: 'pinned' | 'tofu';
  #pinned: PublicKeyInfo[] = [];
  readonly #published = new Map<string, PublicKeyInfo>();
  static readonly maxPublished = 256;

  constructor(trustedKeys: readonly PublicKeyInfo[] | 'tofu') {
    if (trustedKeys === 'tofu') {
      this.mode = 'tofu';
    } else {
      this.mode = 'pinned';
      for (const key of trustedKeys) this.trust.add(key);
    }
  }

  /** True while a 'tofu' client has no key yet: the next keys the server presents are pinned. */
  get awaitingFirstUse(): boolean {
    return this.mode === 'tofu' && this.#pinned.length === 0;
  }

  /** Restores pinned roots ('tofu' only) and published keys from the cache; returns ids newly trusted. */
  restore(file: { pinned: readonly PublicKeyInfo[]; published: readonly PublicKeyInfo[] }): string[] {
    const trusted: string[] = [];
    if (this.mode === 'tofu' && this.#pinned.length === 0) {
      const valid = file.pinned.filter(isUsableKey);
      for (const key of valid) this.trust.add(key);
      this.#pinned = valid.map(copyKey);
      trusted.push(...valid.map((k) => k.keyId));
    }
    trusted.push(...this.learn(file.published).learned);
    return trusted;
  }

  /** Trust on first use: every presented key becomes a root. Returns what was pinned. */
  pinOnFirstUse(keys: readonly PublicKeyInfo[]): PublicKeyInfo[] {
    if (!this.awaitingFirstUse) return [];
    const valid = keys.filter(isUsableKey);
    for (const key of valid) this.trust.add(key);
    this.#pinned = valid.map(copyKey);
    this.learn(keys);
    return this.#pinned.map(copyKey);
  }

  /**
   * Records published keys and trusts those endorsed (through any chain) by a trusted key.
   * `changed` says whether the keys file should be written again.
   */
  learn(keys: readonly PublicKeyInfo[]): { learned: string[]; changed: boolean } {
    let changed = false;
    for (const key of keys) {
      if (!isUsableKey(key)) continue;
      const known = this.#published.get(key.keyId);
      if (known && known.publicKey === key.publicKey && known.endorsedBy?.signature === key.endorsedBy?.signature)
        continue;
      if (this.#published.size >= KeyRing.maxPublished && !known) continue;
      this.#published.set(key.keyId, copyKey(key));
      changed = true;
    }
    const learned = this.trust.learn([...this.#published.values()]);
    return { learned, changed: changed || learned.length > 0 };
  }

  toFile(): { pinned: PublicKeyInfo[]; published: PublicKeyInfo[] } {
    return { pinned: this.#pinned.map(copyKey), published: [...this.#published.values()].map(copyKey) };
  }
}

function copyKey(key: PublicKeyInfo): PublicKeyInfo {
  const copy: PublicKeyInfo = { keyId: key.keyId, publicKey: key.publicKey, createdAt: key.createdAt };
  if (key.endorsedBy) copy.endorsedBy = { keyId: key.endorsedBy.keyId, signature: key.endorsedBy.signature };
  return copy;
}

/** Well-formed: string id, a 32-byte Ed25519 key, a numeric creation time. */
export function isUsableKey(key: unknown): key is PublicKeyInfo {
  if (typeof key !== 'object' || key === null) return false;
  const k = key as Record<string, unknown>;
  if (
    typeof k.keyId !== 'string' ||
    k.keyId.length === 0 ||
    typeof k.publicKey !== 'string' ||
    typeof k.createdAt !== 'number'
  )
    return false;
  if (k.endorsedBy !== undefined) {
    const e = k.endorsedBy as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.keyId !== 'string' || typeof e.signature !== 'string')
      return false;
  }
  try {
    publicKeyFromRaw(k.publicKey);
    return true;
  } catch {
    return false;
  }
}
