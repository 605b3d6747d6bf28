import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { HeraldError } from './errors.js';

const algorithm = 'aes-256-gcm';
const ivBytes = 12;
const tagBytes = 16;
const formatPrefix = 'v1:';

/**
 * Encrypts secret entry values at rest with AES-256-GCM. The entry's address is bound in as
 * associated data, so a ciphertext copied onto another entry fails to decrypt instead of
 * leaking under the wrong name.
 */
export class SecretCipher {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error(`a secret key must be 32 bytes, got ${key.length}`);
    this.#key = Buffer.from(key);
  }

  /** Identifies the key without revealing it, so nodes can check they all hold the same one. */
  fingerprint(): string {
    return createHmac('sha256', this.#key).update('herald secret key fingerprint v1').digest('hex').slice(0, 32);
  }

  static generateKey(): Buffer {
    return randomBytes(32);
  }

  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv(algorithm, this.#key, iv, { authTagLength: tagBytes });
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return formatPrefix + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  decrypt(ciphertext: string, associatedData: string): string {
    if (!ciphertext.startsWith(formatPrefix))
      throw new HeraldError('internal', 'a secret value is in an unknown format');
    const raw = Buffer.from(ciphertext.slice(formatPrefix.length), 'base64');
    // A truncated value would make node:crypto throw a bare TypeError on the IV or tag length.
    if (raw.length < ivBytes + tagBytes) throw new HeraldError('internal', 'a secret value is truncated');
    const decipher = createDecipheriv(algorithm, this.#key, raw.subarray(0, ivBytes), { authTagLength: tagBytes });
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(raw.subarray(ivBytes, ivBytes + tagBytes));
    try {
      return Buffer.concat([decipher.update(raw.subarray(ivBytes + tagBytes)), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new HeraldError(
        'internal',
        'a secret value could not be decrypted: wrong secret key, or the data was altered',
        { cause },
      );
    }
  }
}
