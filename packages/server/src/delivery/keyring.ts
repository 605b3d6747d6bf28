import { randomBytes } from 'node:crypto';
import { SigningKey, type AuditInput, type Clock, type PublicKeyInfo, type SecretCipher } from '@herald/core';
import type { SigningKeyRecord, Store } from '@herald/store';

const keyAssociatedData = 'herald signing key';

/**
 * The control plane's Ed25519 signing keys. They live in the store with the private half
 * encrypted under the secret key, so every node of a cluster signs with the same key and a
 * rotation on one node reaches the others (each refreshes periodically). The newest key signs;
 * every key is published, each endorsed by the one before it.
 */
export class KeyRing {
  readonly #store: Store;
  readonly #cipher: SecretCipher;
  readonly #clock: Clock;
  #keys: SigningKeyRecord[] = [];
  #current: SigningKey | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(deps: { store: Store; cipher: SecretCipher; clock: Clock }) {
    this.#store = deps.store;
    this.#cipher = deps.cipher;
    this.#clock = deps.clock;
  }

  /** Loads the keys, creating the first one when the store has none. */
  async load(): Promise<void> {
    await this.refresh();
    if (this.#keys.length === 0) {
      await this.#add({ actor: 'herald (bootstrap)', action: 'keys.create', target: 'keys' }, undefined);
      await this.refresh();
    }
  }

  /** Re-reads the keys; tells listeners when they changed (another node rotated). */
  async refresh(): Promise<void> {
    const keys = await this.#store.listSigningKeys();
    const newest = keys.at(-1);
    if (!newest) return;
    const changed = newest.keyId !== this.#current?.keyId || keys.length !== this.#keys.length;
    this.#keys = keys;
    if (changed) {
      this.#current = new SigningKey(
        newest.keyId,
        this.#cipher.decrypt(newest.encryptedPrivateKey, keyAssociatedData),
        newest.createdAt,
      );
      for (const listener of this.#listeners) listener();
    }
  }

  current(): SigningKey {
    if (!this.#current) throw new Error('the key ring is not loaded');
    return this.#current;
  }

  published(): PublicKeyInfo[] {
    return this.#keys.map((k) => ({
      keyId: k.keyId,
      publicKey: k.publicKey,
      createdAt: k.createdAt,
      ...(k.endorsedBy ? { endorsedBy: k.endorsedBy } : {}),
    }));
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Makes a new signing key, endorsed by the current one, and signs with it from now on. */
  async rotate(audit: Omit<AuditInput, 'target'>): Promise<PublicKeyInfo> {
    await this.refresh();
    const info = await this.#add({ ...audit, target: 'keys' }, this.#current);
    await this.refresh();
    return info;
  }

  async #add(audit: AuditInput, endorser: SigningKey | undefined): Promise<PublicKeyInfo> {
    const keyId = `k-${randomBytes(4).toString('hex')}`;
    const createdAt = this.#clock.now();
    const { key, privateKeyPem } = SigningKey.generate(keyId, createdAt);
    const endorsedBy = endorser ? endorser.endorse({ keyId, publicKey: key.publicKey, createdAt }) : null;
    await this.#store.addSigningKey(
      {
        keyId,
        publicKey: key.publicKey,
        encryptedPrivateKey: this.#cipher.encrypt(privateKeyPem, keyAssociatedData),
        createdAt,
        endorsedBy,
      },
      {
        ...audit,
        details: { ...audit.details, keyId, publicKey: key.publicKey, endorsedBy: endorsedBy?.keyId ?? null },
      },
    );
    return { keyId, publicKey: key.publicKey, createdAt, ...(endorsedBy ? { endorsedBy } : {}) };
  }
}
