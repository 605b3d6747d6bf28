import {
  normaliseLabels,
  parseManifest,
  ViewDigest,
  type Manifest,
  type TrustStore,
  type ViewValues,
} from '@herald/core';

/**
 * The checks of docs/protocol.md "Signed manifests", in its order, as pure functions: a view is
 * accepted only when (1) the manifest is signed by a trusted key, (2) it is the view asked for,
 * (3) its seq is not lower than the one held (equal only with the same digest: nothing to do),
 * (4) a delta starts from exactly what is held, and (5) the digest of the result equals the signed
 * digest. Check 6 (the application's own validation) is the client's, after these.
 */

/** Why a view was refused; stable, sent in reject reports and status events. */
export const rejectionCodes = [
  /** The event or manifest does not have the protocol's shape. */
  'malformed',
  /** The manifest names a key the client does not trust. */
  'untrusted_key',
  /** The signature does not verify over the canonical manifest. */
  'bad_signature',
  /** The manifest is for another namespace or label stack than the view it came for. */
  'wrong_view',
  /** A lower seq than the one held: a replay or rollback attack. */
  'seq_regressed',
  /** The seq held, with a different digest. */
  'seq_conflict',
  /** A delta from something other than what the client holds. */
  'delta_base_mismatch',
  /** The values (after applying a delta) do not hash to the signed digest. */
  'digest_mismatch',
  /** The application's validate hook refused the values. */
  'validation_failed',
] as const;

export type RejectionCode = (typeof rejectionCodes)[number];

/** A view as the client names it: labels normalised ([] is [""]). */
export interface ViewRef {
  readonly namespace: string;
  readonly labels: readonly string[];
}

/** What the client holds for a view: a verified manifest, its signature and the values. */
export interface VerifiedView {
  readonly manifest: Manifest;
  readonly signature: string;
  /** Deeply frozen in the views this module accepts (so a client can share them across releases). */
  readonly values: ViewValues;
}

export type Verdict =
  | { outcome: 'accept'; view: VerifiedView }
  /** Same seq and digest as held: nothing to do. */
  | { outcome: 'unchanged' }
  /** `manifest` is there when the event had a well-formed manifest (reports name its seq and digest). */
  | { outcome: 'reject'; code: RejectionCode; reason: string; manifest?: Manifest };

export interface VerifyContext {
  /** The view this event was routed to. */
  view: ViewRef;
  /** What the client holds for it, if anything. */
  held: VerifiedView | undefined;
  trust: TrustStore;
}

function reject(code: RejectionCode, reason: string, manifest?: Manifest): Verdict {
  return manifest ? { outcome: 'reject', code, reason, manifest } : { outcome: 'reject', code, reason };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameLabels(a: readonly string[], b: readonly string[]): boolean {
  const x = normaliseLabels(a);
  const y = normaliseLabels(b);
  return x.length === y.length && x.every((label, i) => label === y[i]);
}

/** Checks 1–3, shared by snapshots and deltas. Returns the manifest, or a verdict to stop with. */
function checkManifest(
  payload: Record<string, unknown>,
  context: VerifyContext,
): { manifest: Manifest; signature: string } | Verdict {
  const manifest = parseManifest(payload.manifest);
  if (typeof manifest === 'string') return reject('malformed', manifest);
  const signature = payload.signature;
  if (typeof signature !== 'string') return reject('malformed', 'the signature is not a string', manifest);
  // 1. A trusted key, and a signature that verifies over the canonical manifest.
  if (!context.trust.has(manifest.keyId))
    return reject('untrusted_key', `manifest signed by untrusted key ${manifest.keyId}`, manifest);
  if (!context.trust.verify({ manifest, signature }))
    return reject(
      'bad_signature',
      `the signature of seq ${manifest.seq} does not verify under key ${manifest.keyId}`,
      manifest,
    );
  // 2. The view asked for.
  if (manifest.namespace !== context.view.namespace || !sameLabels(manifest.labels, context.view.labels)) {
    return reject(
      'wrong_view',
      `manifest is for ${JSON.stringify([manifest.namespace, manifest.labels])}, not ${JSON.stringify([context.view.namespace, context.view.labels])}`,
      manifest,
    );
  }
  // 3. Never a lower seq; the same seq only with the same digest.
  const held = context.held?.manifest;
  if (held) {
    if (manifest.seq < held.seq)
      return reject(
        'seq_regressed',
        `seq ${manifest.seq} is lower than the seq ${held.seq} held (replay or rollback)`,
        manifest,
      );
    if (manifest.seq === held.seq) {
      if (manifest.digest === held.digest) return { outcome: 'unchanged' };
      return reject(
        'seq_conflict',
        `seq ${manifest.seq} is held with digest ${held.digest}, offered with ${manifest.digest}`,
        manifest,
      );
    }
  }
  return { manifest, signature };
}

/**
 * The digest of each values object this module accepted, with the base and keys of the delta that
 * made it: the next delta then rehashes only what it sets (view-digest.ts), and the keys a change
 * event names are found without comparing every value. Only values frozen here are remembered, so
 * an entry cannot go stale.
 */
const digests = new WeakMap<ViewValues, Digested>();

/**
 * `base` is the digest of the values the delta applied to, not those values: a reference to them
 * would keep every release ever held alive, one through the other.
 */
interface Digested {
  digest: ViewDigest;
  base?: ViewDigest;
  set?: readonly string[];
}

function digestOf(values: ViewValues): ViewDigest {
  return digests.get(values)?.digest ?? ViewDigest.of(values);
}

function deepFreeze(value: unknown): void {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
}

/** Check 5: `digest` (of the values, or the failure to encode them) against the signed one. */
function checkDigest(manifest: Manifest, digest: () => ViewDigest): ViewDigest | Verdict {
  let computed: ViewDigest;
  try {
    computed = digest();
  } catch {
    return reject('malformed', 'the values have no canonical JSON encoding', manifest);
  }
  if (computed.digest !== manifest.digest)
    return reject(
      'digest_mismatch',
      `the values hash to ${computed.digest}, the manifest of seq ${manifest.seq} says ${manifest.digest}`,
      manifest,
    );
  return computed;
}

/** Acceptance: the values (deeply frozen from here on) with their digest remembered. */
function accept(manifest: Manifest, signature: string, values: ViewValues, digest: Digested): Verdict {
  Object.freeze(values);
  digests.set(values, digest);
  return { outcome: 'accept', view: { manifest, signature, values } };
}

/**
 * The keys set, changed or removed from `from` (nothing held: every key) to `to`, sorted. For values
 * a delta made from `from`, only the keys the delta set (and those that came or went) are compared.
 */
export function changedKeys(from: ViewValues | undefined, to: ViewValues): string[] {
  const next = digestOf(to);
  if (from === undefined) return [...next.keys];
  const known = digests.get(to);
  const held = digestOf(from);
  return held.changedKeys(next, known?.base === held ? known.set : undefined);
}

function sortedCopy(values: Record<string, unknown>): ViewValues {
  const copy = Object.create(null) as ViewValues;
  for (const key of Object.keys(values).sort()) copy[key] = values[key];
  return copy;
}

/** A `snapshot` event's data (or a cache file, or a plain-HTTP view): `{manifest, signature, values}`. */
export function verifySnapshot(payload: unknown, context: VerifyContext): Verdict {
  if (!isObject(payload)) return reject('malformed', 'the snapshot is not an object');
  const checked = checkManifest(payload, context);
  if ('outcome' in checked) return checked;
  if (!isObject(payload.values)) return reject('malformed', 'the snapshot values are not an object', checked.manifest);
  const values = sortedCopy(payload.values);
  const digest = checkDigest(checked.manifest, () => ViewDigest.of(values));
  if (!(digest instanceof ViewDigest)) return digest;
  for (const key of Object.keys(values)) deepFreeze(values[key]);
  return accept(checked.manifest, checked.signature, values, { digest });
}

/** A `delta` event's data: `{fromSeq, fromDigest, manifest, signature, set, remove}`. */
export function verifyDelta(payload: unknown, context: VerifyContext): Verdict {
  if (!isObject(payload)) return reject('malformed', 'the delta is not an object');
  const checked = checkManifest(payload, context);
  if ('outcome' in checked) return checked;
  const { manifest, signature } = checked;
  const { fromSeq, fromDigest, set, remove } = payload;
  if (!Number.isSafeInteger(fromSeq) || typeof fromDigest !== 'string')
    return reject('malformed', 'the delta has no fromSeq/fromDigest', manifest);
  if (!isObject(set) || !Array.isArray(remove) || !remove.every((k) => typeof k === 'string'))
    return reject('malformed', 'the delta has no set object or remove list', manifest);
  // 4. From exactly what the client holds.
  const held = context.held;
  if (!held)
    return reject('delta_base_mismatch', `a delta from seq ${String(fromSeq)} arrived but nothing is held`, manifest);
  if (fromSeq !== held.manifest.seq || fromDigest !== held.manifest.digest) {
    return reject(
      'delta_base_mismatch',
      `a delta from seq ${String(fromSeq)} (${fromDigest}) arrived but seq ${held.manifest.seq} (${held.manifest.digest}) is held`,
      manifest,
    );
  }
  // 5. The result hashes to the signed digest: only the entries set are rehashed.
  const base = digestOf(held.values);
  const digest = checkDigest(manifest, () => base.apply({ set, remove }));
  if (!(digest instanceof ViewDigest)) return digest;
  // The result shares the held (frozen) values of every key the delta did not set.
  const values = Object.create(null) as ViewValues;
  for (const key of digest.keys) {
    if (Object.hasOwn(set, key)) {
      deepFreeze(set[key]);
      values[key] = set[key];
    } else values[key] = held.values[key];
  }
  return accept(manifest, signature, values, { digest, base, set: Object.keys(set) });
}
