import { createPrivateKey, createPublicKey } from 'node:crypto';
import { rawPublicKey, TrustStore, type AuditRecord, type SecretCipher } from '@herald/core';
import type { SigningKeyRecord, Store } from '@herald/store';

/** The associated data the server encrypts private signing keys under (server/src/delivery/keyring.ts). */
const keyAssociatedData = 'herald signing key';

export interface SigningKeysCheck {
  keys: number;
  /** Whether each private half was decrypted and matched to its public key (needs the secret key). */
  privateKeysChecked: boolean;
}

/**
 * The signing keys a restored server would sign with and clients would trust: each key after the
 * first carries a valid Ed25519 endorsement by the key before it (what clients check when they
 * learn a rotated key), and, given the secret key, each encrypted private half decrypts to the
 * private key of the recorded public key. Returns the problem in words, or the figures.
 */
export function checkSigningKeys(
  keys: readonly SigningKeyRecord[],
  cipher: SecretCipher | undefined,
): { ok: true; check: SigningKeysCheck } | { ok: false; problem: string } {
  const [first, ...rest] = keys;
  if (first === undefined) return { ok: true, check: { keys: 0, privateKeysChecked: cipher !== undefined } };
  const trust = new TrustStore([first]);
  let previous = first;
  for (const key of rest) {
    if (key.endorsedBy?.keyId !== previous.keyId)
      return {
        ok: false,
        problem: `signing key ${key.keyId} is not endorsed by the key before it (${previous.keyId})`,
      };
    trust.learn([{ keyId: key.keyId, publicKey: key.publicKey, createdAt: key.createdAt, endorsedBy: key.endorsedBy }]);
    if (!trust.has(key.keyId))
      return { ok: false, problem: `signing key ${key.keyId}: its endorsement by ${previous.keyId} does not verify` };
    previous = key;
  }
  if (cipher) {
    for (const key of keys) {
      let publicOfPrivate: string;
      try {
        const pem = cipher.decrypt(key.encryptedPrivateKey, keyAssociatedData);
        publicOfPrivate = rawPublicKey(createPublicKey(createPrivateKey(pem)));
      } catch {
        return {
          ok: false,
          problem: `signing key ${key.keyId}: its private key does not decrypt with this secret key`,
        };
      }
      if (publicOfPrivate !== key.publicKey)
        return { ok: false, problem: `signing key ${key.keyId}: its private key does not belong to its public key` };
    }
  }
  return { ok: true, check: { keys: keys.length, privateKeysChecked: cipher !== undefined } };
}

/**
 * What the hash-chained audit log says each release is: `namespace seq` → the revision it froze.
 * A release is recorded by the commit that made it (`releaseSeq`) or by its own record (`seq`).
 */
export class ReleaseLedger {
  readonly #revisions = new Map<string, number>();

  add(record: AuditRecord): void {
    if (!record.target.startsWith('namespace:')) return;
    const namespace = record.target.slice('namespace:'.length);
    const { releaseSeq, seq, revision } = record.details;
    const releaseOf =
      typeof releaseSeq === 'number' ? releaseSeq : record.action.startsWith('release.') ? seq : undefined;
    if (typeof releaseOf === 'number' && typeof revision === 'number')
      this.#revisions.set(`${namespace} ${releaseOf}`, revision);
  }

  revisionOf(namespace: string, seq: number): number | undefined {
    return this.#revisions.get(`${namespace} ${seq}`);
  }
}

/**
 * Every release of the namespace is the one the audit log recorded: seqs run 1…n without a gap,
 * and each names the revision its audit record names (a release pointed at other content, added or
 * removed behind the log's back, is found). Returns the problem in words, or the count.
 */
export async function checkReleases(
  store: Store,
  namespace: string,
  ledger: ReleaseLedger,
): Promise<{ ok: true; releases: number } | { ok: false; problem: string }> {
  let beforeSeq: number | undefined;
  let expected: number | undefined;
  let count = 0;
  for (;;) {
    const page = await store.listReleases({
      namespace,
      limit: 1000,
      ...(beforeSeq === undefined ? {} : { beforeSeq }),
    });
    for (const release of page) {
      if (expected !== undefined && release.seq !== expected)
        return {
          ok: false,
          problem: `namespace ${namespace} has no release ${expected} (releases jump to ${release.seq})`,
        };
      const recorded = ledger.revisionOf(namespace, release.seq);
      if (recorded === undefined)
        return { ok: false, problem: `release ${namespace} ${release.seq} is not in the audit log` };
      if (recorded !== release.revision)
        return {
          ok: false,
          problem: `release ${namespace} ${release.seq} is at revision ${release.revision}, but the audit log recorded ${recorded}`,
        };
      expected = release.seq - 1;
      count += 1;
    }
    const last = page.at(-1);
    if (!last || page.length < 1000) break;
    beforeSeq = last.seq;
  }
  if (expected !== undefined && expected !== 0)
    return { ok: false, problem: `namespace ${namespace} has no release ${expected} (its oldest is ${expected + 1})` };
  return { ok: true, releases: count };
}
