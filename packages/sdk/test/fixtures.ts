// Signed views and deltas made with core's real signing code, for the SDK's unit tests.
import {
  diffViews,
  SigningKey,
  viewDigest,
  type PublicKeyInfo,
  type SignedManifest,
  type ViewValues,
} from '@herald/core';

export function newKey(keyId = 'k-1', createdAt = 1_700_000_000_000): SigningKey {
  return SigningKey.generate(keyId, createdAt).key;
}

export function publicInfo(key: SigningKey, endorsedBy?: SigningKey): PublicKeyInfo {
  const info: PublicKeyInfo = { keyId: key.keyId, publicKey: key.publicKey, createdAt: key.createdAt };
  if (endorsedBy) info.endorsedBy = endorsedBy.endorse(info);
  return info;
}

export interface SignedView extends SignedManifest {
  values: ViewValues;
}

export function signView(
  key: SigningKey,
  options: { namespace?: string; labels?: string[]; seq: number; revision?: number; values: ViewValues },
): SignedView {
  const signed = key.signManifest({
    namespace: options.namespace ?? 'payments',
    labels: options.labels ?? [''],
    secrets: false,
    seq: options.seq,
    revision: options.revision ?? options.seq * 10,
    digest: viewDigest(options.values),
    issuedAt: 1_800_000_000_000 + options.seq,
  });
  return { ...signed, values: options.values };
}

export interface DeltaPayload extends SignedManifest {
  fromSeq: number;
  fromDigest: string;
  set: ViewValues;
  remove: string[];
}

export function deltaBetween(from: SignedView, to: SignedView): DeltaPayload {
  const { set, remove } = diffViews(from.values, to.values);
  return {
    fromSeq: from.manifest.seq,
    fromDigest: from.manifest.digest,
    manifest: to.manifest,
    signature: to.signature,
    set,
    remove,
  };
}

/** A copy with one character of the base64 signature changed (still valid base64). */
export function flipSignature(signature: string): string {
  const i = 10;
  const c = signature[i] === 'A' ? 'B' : 'A';
  return signature.slice(0, i) + c + signature.slice(i + 1);
}
