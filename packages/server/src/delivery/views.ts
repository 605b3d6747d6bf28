import {
  diffViews,
  HeraldError,
  normaliseLabels,
  resolveView,
  viewDigest,
  viewKey,
  type SignedManifest,
  type ViewSpec,
  type ViewValues,
} from '@herald/core';
import type { Store } from '@herald/store';
import type { EntryCodec } from '../entry-codec.js';
import type { KeyRing } from './keyring.js';
import type { ReleaseRef } from './release-ref.js';
import { encodeEvent } from './sse.js';

/** A view at one release, signed, with its events encoded at most once. */
export interface ComputedView {
  key: string;
  spec: ViewSpec;
  secrets: boolean;
  release: ReleaseRef;
  values: ViewValues;
  digest: string;
  signed: SignedManifest;
  /** The `snapshot` event, encoded on first use. */
  snapshotFrame?: Buffer;
}

/** Small insertion-ordered LRU. */
class Lru<V> {
  readonly #max: number;
  readonly #map = new Map<string, V>();
  constructor(max: number) {
    this.#max = max;
  }
  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string);
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
}

/** Where views come from: computed and signed from the store (control plane), or fetched and verified from an upstream (relay). */
export interface ViewOrigin {
  /** The view at release `seq`; undefined when the origin has no such release (not made yet, or gone). */
  compute(spec: ViewSpec, secrets: boolean, seq: number): Promise<ComputedView | undefined>;
}

/**
 * Views and the events that carry them. Everything is cached by (view, seq) and (view, from, to),
 * so a release fanned out to thousands of clients is computed, signed and serialised once.
 */
export class ViewService {
  readonly #origin: ViewOrigin;
  readonly #views = new Lru<Promise<ComputedView | undefined>>(2000);
  readonly #deltas = new Lru<Buffer>(2000);
  /** Counts serialisations of view events, for tests and metrics: fan-out must not multiply it. */
  encodedEvents = 0;

  constructor(origin: ViewOrigin) {
    this.#origin = origin;
  }

  /** The view at a release a route names (cached); `revision_not_found` when the origin no longer has it. */
  async at(spec: ViewSpec, secrets: boolean, release: ReleaseRef): Promise<ComputedView> {
    const view = await this.#compute(spec, secrets, release.seq);
    if (!view)
      throw new HeraldError('revision_not_found', `namespace "${spec.namespace}" has no release ${release.seq} here`);
    return view;
  }

  /** The view at `seq`, or undefined when that release is gone, unknown or compacted. */
  async atSeq(spec: ViewSpec, secrets: boolean, seq: number): Promise<ComputedView | undefined> {
    try {
      return await this.#compute(spec, secrets, seq);
    } catch (error) {
      // Gone (compacted, or unknown upstream of a relay): the client gets a snapshot instead.
      if (error instanceof HeraldError && (error.code === 'revision_compacted' || error.code === 'revision_not_found'))
        return undefined;
      throw error;
    }
  }

  #compute(spec: ViewSpec, secrets: boolean, seq: number): Promise<ComputedView | undefined> {
    const cacheKey = `${viewKey(spec, secrets)}|${seq}`;
    let view = this.#views.get(cacheKey);
    if (!view) {
      view = this.#origin.compute(spec, secrets, seq);
      // Neither a failure nor a release not made yet is cached: the next caller asks again.
      view.then(
        (computed) => computed ?? this.#views.delete(cacheKey),
        () => this.#views.delete(cacheKey),
      );
      this.#views.set(cacheKey, view);
    }
    return view;
  }

  snapshotFrame(view: ComputedView): Buffer {
    if (!view.snapshotFrame) {
      this.encodedEvents += 1;
      view.snapshotFrame = encodeEvent('snapshot', {
        view: view.key,
        manifest: view.signed.manifest,
        signature: view.signed.signature,
        values: view.values,
      });
    }
    return view.snapshotFrame;
  }

  deltaFrame(from: ComputedView, to: ComputedView): Buffer {
    const cacheKey = `${to.key}|${from.release.seq}|${to.release.seq}`;
    let frame = this.#deltas.get(cacheKey);
    if (!frame) {
      const delta = diffViews(from.values, to.values);
      this.encodedEvents += 1;
      frame = encodeEvent('delta', {
        view: to.key,
        fromSeq: from.release.seq,
        fromDigest: from.digest,
        manifest: to.signed.manifest,
        signature: to.signed.signature,
        set: delta.set,
        remove: delta.remove,
      });
      this.#deltas.set(cacheKey, frame);
    }
    return frame;
  }

  /** The event that brings a client holding (seq, digest) to `target`: nothing, a delta, or a snapshot. */
  async catchUp(target: ComputedView, held: { seq?: number; digest?: string }): Promise<Buffer | undefined> {
    if (held.seq === target.release.seq && held.digest === target.digest) return undefined;
    if (held.seq !== undefined && held.digest !== undefined && held.seq < target.release.seq) {
      // A delta only saves bytes: a base that cannot be had now (a relay whose upstream is away and
      // never cached that release) means a snapshot, not a stream that fails on every reconnect.
      const base = await this.atSeq(target.spec, target.secrets, held.seq).catch(() => undefined);
      if (base && base.digest === held.digest) return this.deltaFrame(base, target);
    }
    return this.snapshotFrame(target);
  }
}

/** The control plane's origin: resolve the label stack at the release's revision, digest, sign. */
export class StoreViewOrigin implements ViewOrigin {
  readonly #store: Store;
  readonly #codec: EntryCodec;
  readonly #keys: KeyRing;

  constructor(deps: { store: Store; codec: EntryCodec; keys: KeyRing }) {
    this.#store = deps.store;
    this.#codec = deps.codec;
    this.#keys = deps.keys;
  }

  async compute(spec: ViewSpec, secrets: boolean, seq: number): Promise<ComputedView | undefined> {
    const record = await this.#store.getRelease(spec.namespace, seq);
    if (!record) return undefined;
    const release: ReleaseRef = {
      namespace: record.namespace,
      seq: record.seq,
      revision: record.revision,
      createdAt: record.createdAt,
    };
    const key = viewKey(spec, secrets);
    const labels = normaliseLabels(spec.labels);
    const versions = await this.#store.readEntries({ namespace: spec.namespace, asOf: release.revision, labels });
    const entries = versions
      .filter((v) => secrets || !v.secret)
      .map((v) => ({ key: v.key, label: v.label, value: this.#codec.decodedValue(v) }));
    const values = resolveView(labels, entries);
    const digest = viewDigest(values);
    const signed = this.#keys.current().signManifest({
      namespace: spec.namespace,
      labels,
      secrets,
      seq: release.seq,
      revision: release.revision,
      digest,
      issuedAt: release.createdAt,
    });
    return { key, spec: { namespace: spec.namespace, labels }, secrets, release, values, digest, signed };
  }
}
