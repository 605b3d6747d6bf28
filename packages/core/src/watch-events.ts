import type { Manifest, PublicKeyInfo } from './signing.js';
import type { ViewValues } from './view.js';

/**
 * The watch stream's events (docs/protocol.md, "The watch stream"): one discriminated union on
 * `event`, the one home of their wire shapes. The server encodes these, the SDK parses untrusted
 * streams into them with `parseWatchEvent`, and the testkit reads them.
 */

/** First, once per stream. */
export interface HelloData {
  /** The store revision the server has seen. */
  revision: number;
  /** How often heartbeats come: three silent intervals and the client reconnects. */
  heartbeatMs: number;
  /** The signing keys the server publishes. */
  keys: PublicKeyInfo[];
}

/** A whole view, for a client that holds nothing usable of it. */
export interface SnapshotData {
  /** The view key: canonical JSON of [namespace, labels, secrets]. */
  view: string;
  manifest: Manifest;
  signature: string;
  values: ViewValues;
}

/** From the release a client holds (`fromSeq`, `fromDigest`) to the one in `manifest`. */
export interface DeltaData {
  view: string;
  fromSeq: number;
  fromDigest: string;
  manifest: Manifest;
  signature: string;
  /** Key → new value. */
  set: ViewValues;
  /** The keys that are gone. */
  remove: string[];
}

/** Every heartbeatMs on every stream: keeps idle connections open and tells how fresh the upstream is. */
export interface HeartbeatData {
  at: number;
  revision: number;
}

/** The signing keys changed. */
export interface KeysData {
  keys: PublicKeyInfo[];
}

/** A view can no longer be served (e.g. its namespace was deleted). */
export interface ViewErrorData {
  view: string;
  code: string;
  detail: string;
}

export interface HelloEvent {
  event: 'hello';
  data: HelloData;
}
export interface SnapshotEvent {
  event: 'snapshot';
  data: SnapshotData;
}
export interface DeltaEvent {
  event: 'delta';
  data: DeltaData;
}
export interface HeartbeatEvent {
  event: 'heartbeat';
  data: HeartbeatData;
}
export interface KeysEvent {
  event: 'keys';
  data: KeysData;
}
export interface ViewErrorEvent {
  event: 'view-error';
  data: ViewErrorData;
}

export type WatchEvent = HelloEvent | SnapshotEvent | DeltaEvent | HeartbeatEvent | KeysEvent | ViewErrorEvent;
export type WatchEventName = WatchEvent['event'];
export type WatchEventData<N extends WatchEventName> = Extract<WatchEvent, { event: N }>['data'];

export const watchEventNames: readonly WatchEventName[] = Object.freeze([
  'hello',
  'snapshot',
  'delta',
  'heartbeat',
  'keys',
  'view-error',
]);

export function isWatchEventName(name: string): name is WatchEventName {
  return (watchEventNames as readonly string[]).includes(name);
}

export type WatchEventParse =
  | { readonly status: 'ok'; readonly event: WatchEvent }
  /** An event this version does not know: ignore it (a newer server may add events). */
  | { readonly status: 'unknown'; readonly name: string; readonly data: Record<string, unknown> }
  /**
   * Not the protocol: data that is not a JSON object, or a known event whose data lacks a member
   * or has one of the wrong type. `data` is the JSON object when there was one: a malformed view
   * is still refused and reported by a client, not only ignored.
   */
  | { readonly status: 'invalid'; readonly name: string; readonly reason: string; readonly data: unknown };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

const digestPattern = /^[0-9a-f]{64}$/u;

/** The manifest's shape, or a reason it is not one. Extra members are kept: the signature covers them. */
export function parseManifest(value: unknown): Manifest | string {
  if (!isObject(value)) return 'the manifest is not an object';
  const { namespace, labels, secrets, seq, revision, digest, issuedAt, keyId } = value;
  if (typeof namespace !== 'string') return 'manifest.namespace is not a string';
  if (!isStringArray(labels)) return 'manifest.labels is not an array of strings';
  if (typeof secrets !== 'boolean') return 'manifest.secrets is not a boolean';
  if (!isCount(seq)) return 'manifest.seq is not a non-negative integer';
  if (!isCount(revision)) return 'manifest.revision is not a non-negative integer';
  if (typeof digest !== 'string' || !digestPattern.test(digest))
    return 'manifest.digest is not a lowercase hex SHA-256';
  if (typeof issuedAt !== 'number' || !Number.isFinite(issuedAt)) return 'manifest.issuedAt is not a number';
  if (typeof keyId !== 'string' || keyId.length === 0) return 'manifest.keyId is not a string';
  return value as unknown as Manifest;
}

function isPublicKeyInfo(value: unknown): value is PublicKeyInfo {
  if (!isObject(value)) return false;
  const { keyId, publicKey, createdAt, endorsedBy } = value;
  if (typeof keyId !== 'string' || typeof publicKey !== 'string' || typeof createdAt !== 'number') return false;
  return (
    endorsedBy === undefined ||
    (isObject(endorsedBy) && typeof endorsedBy.keyId === 'string' && typeof endorsedBy.signature === 'string')
  );
}

/** Why `data` is not this event's shape, or undefined when it is. */
const shapeProblems: { readonly [N in WatchEventName]: (data: Record<string, unknown>) => string | undefined } = {
  hello: (d) => {
    if (!isCount(d.revision)) return 'has no revision';
    if (!isCount(d.heartbeatMs) || d.heartbeatMs === 0) return 'has no positive heartbeatMs';
    if (!Array.isArray(d.keys) || !d.keys.every(isPublicKeyInfo)) return 'has no list of keys';
    return undefined;
  },
  snapshot: (d) => {
    const view = viewProblem(d);
    if (view) return view;
    if (!isObject(d.values)) return 'has no values object';
    return undefined;
  },
  delta: (d) => {
    const view = viewProblem(d);
    if (view) return view;
    if (!isCount(d.fromSeq) || typeof d.fromDigest !== 'string') return 'has no fromSeq/fromDigest';
    if (!isObject(d.set) || !isStringArray(d.remove)) return 'has no set object or remove list';
    return undefined;
  },
  heartbeat: (d) => (typeof d.at !== 'number' || !isCount(d.revision) ? 'has no at or revision' : undefined),
  keys: (d) => (!Array.isArray(d.keys) || !d.keys.every(isPublicKeyInfo) ? 'has no list of keys' : undefined),
  'view-error': (d) =>
    typeof d.view !== 'string' || typeof d.code !== 'string' || typeof d.detail !== 'string'
      ? 'has no view, code or detail'
      : undefined,
};

function viewProblem(d: Record<string, unknown>): string | undefined {
  if (typeof d.view !== 'string') return 'has no view key';
  const manifest = parseManifest(d.manifest);
  if (typeof manifest === 'string') return `has a bad manifest (${manifest})`;
  if (typeof d.signature !== 'string') return 'has no signature';
  return undefined;
}

/**
 * Parses one event of an untrusted stream (its `event:` name and `data:` text) into the union.
 * Shape only: a view's signature and digest are the verifier's to check.
 */
export function parseWatchEvent(name: string, text: string): WatchEventParse {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { status: 'invalid', name, reason: 'is not JSON', data: undefined };
  }
  if (!isObject(data)) return { status: 'invalid', name, reason: 'is not an object', data };
  if (!isWatchEventName(name)) return { status: 'unknown', name, data };
  const problem = shapeProblems[name](data);
  if (problem !== undefined) return { status: 'invalid', name, reason: problem, data };
  return { status: 'ok', event: { event: name, data } as unknown as WatchEvent };
}
