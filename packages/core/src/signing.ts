import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import { HeraldError } from './errors.js';

/**
 * What the control plane signs for every delivered view. A client accepts a view only when the
 * signature verifies under a key it trusts, the digest of what it holds equals `digest`, and
 * `seq` is not lower than what it has.
 */
export interface Manifest {
  namespace: string;
  labels: string[];
  /** Whether secret entries are in the view (the audience). */
  secrets: boolean;
  seq: number;
  revision: number;
  digest: string;
  /** When the release was made, ms since the epoch. */
  issuedAt: number;
  keyId: string;
}

export interface SignedManifest {
  manifest: Manifest;
  /** Ed25519 over the canonical JSON of `manifest`, base64. */
  signature: string;
}

/** A public key as published and pinned: raw 32-byte Ed25519 key, base64. */
export interface PublicKeyInfo {
  keyId: string;
  publicKey: string;
  createdAt: number;
  /** Signatures of the previous key over this key's identity, so clients trusting that key trust this one. */
  endorsedBy?: { keyId: string; signature: string };
}

const spkiEd25519Prefix = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyFromRaw(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) throw new HeraldError('invalid_request', 'an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([spkiEd25519Prefix, bytes]), format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('base64');
}

/** A signing key pair; the private half never leaves the control plane. */
export class SigningKey {
  readonly keyId: string;
  readonly createdAt: number;
  readonly #privateKey: KeyObject;
  readonly publicKey: string;

  constructor(keyId: string, privateKeyPem: string, createdAt: number) {
    this.keyId = keyId;
    this.createdAt = createdAt;
    this.#privateKey = createPrivateKey(privateKeyPem);
    this.publicKey = rawPublicKey(createPublicKey(this.#privateKey));
  }

  static generate(keyId: string, createdAt: number): { key: SigningKey; privateKeyPem: string } {
    const { privateKey } = generateKeyPairSync('ed25519');
    const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    return { key: new SigningKey(keyId, privateKeyPem, createdAt), privateKeyPem };
  }

  signManifest(manifest: Omit<Manifest, 'keyId'>): SignedManifest {
    const full: Manifest = { ...manifest, keyId: this.keyId };
    return {
      manifest: full,
      signature: sign(null, Buffer.from(canonicalJson(full)), this.#privateKey).toString('base64'),
    };
  }

  /** Endorses the next key: clients that trust this key may then trust that one. */
  endorse(next: Pick<PublicKeyInfo, 'keyId' | 'publicKey' | 'createdAt'>): { keyId: string; signature: string } {
    return {
      keyId: this.keyId,
      signature: sign(null, Buffer.from(endorsementBody(next)), this.#privateKey).toString('base64'),
    };
  }
}

function endorsementBody(key: Pick<PublicKeyInfo, 'keyId' | 'publicKey' | 'createdAt'>): string {
  return canonicalJson({ endorse: { keyId: key.keyId, publicKey: key.publicKey, createdAt: key.createdAt } });
}

/** The keys a client trusts, by id; verification refuses anything signed by another key. */
export class TrustStore {
  readonly #keys = new Map<string, KeyObject>();
  readonly #raw = new Map<string, string>();

  constructor(keys: ReadonlyArray<Pick<PublicKeyInfo, 'keyId' | 'publicKey'>> = []) {
    for (const key of keys) this.add(key);
  }

  add(key: Pick<PublicKeyInfo, 'keyId' | 'publicKey'>): void {
    this.#keys.set(key.keyId, publicKeyFromRaw(key.publicKey));
    this.#raw.set(key.keyId, key.publicKey);
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  get size(): number {
    return this.#keys.size;
  }

  list(): Array<{ keyId: string; publicKey: string }> {
    return [...this.#raw].map(([keyId, publicKey]) => ({ keyId, publicKey }));
  }

  /**
   * Learns keys published by the server, accepting only those endorsed (directly or through a
   * chain) by a key already trusted. Returns the ids newly trusted.
   */
  learn(published: readonly PublicKeyInfo[]): string[] {
    const learned: string[] = [];
    let progress = true;
    while (progress) {
      progress = false;
      for (const key of published) {
        if (this.#keys.has(key.keyId) || !key.endorsedBy) continue;
        const endorser = this.#keys.get(key.endorsedBy.keyId);
        if (!endorser) continue;
        const ok = verify(
          null,
          Buffer.from(endorsementBody(key)),
          endorser,
          Buffer.from(key.endorsedBy.signature, 'base64'),
        );
        if (ok) {
          this.add(key);
          learned.push(key.keyId);
          progress = true;
        }
      }
    }
    return learned;
  }

  /** True only for a valid signature by a trusted key over exactly this manifest. */
  verify(signed: SignedManifest): boolean {
    const key = this.#keys.get(signed.manifest.keyId);
    if (!key) return false;
    try {
      return verify(null, Buffer.from(canonicalJson(signed.manifest)), key, Buffer.from(signed.signature, 'base64'));
    } catch {
      return false;
    }
  }
}
