import { HeraldError, normaliseLabels, viewKey, type ViewSpec } from '@herald/core';
import { changedKeys } from '@herald/sdk/internal';
import type { ComputedView, ViewOrigin } from '../delivery/views.js';
import type { RelayCache } from './relay-cache.js';
import type { RelayTrust } from './relay-trust.js';
import type { Upstream } from './upstream.js';

/**
 * A relay as a view origin: each view release comes from the disk cache, else from the upstream,
 * and is verified either way before use. Nothing is computed or signed here: what a relay serves
 * is signed upstream, so it cannot alter it unnoticed.
 */
export class RelayViewOrigin implements ViewOrigin {
  readonly #upstream: Upstream;
  readonly #cache: RelayCache;
  readonly #trust: RelayTrust;
  readonly #onHeld: (namespace: string, labels: readonly string[], seq: number) => void;

  /** `onHeld` hears of every view release verified and ready to serve (how far behind the relay is). */
  constructor(deps: {
    upstream: Upstream;
    cache: RelayCache;
    trust: RelayTrust;
    onHeld?: (namespace: string, labels: readonly string[], seq: number) => void;
  }) {
    this.#upstream = deps.upstream;
    this.#cache = deps.cache;
    this.#trust = deps.trust;
    this.#onHeld = deps.onHeld ?? (() => undefined);
  }

  /** From the digests the views were verified with: 32 bytes compared per key, nothing encoded. */
  changedKeys(from: ComputedView, to: ComputedView): readonly string[] {
    return changedKeys(from.values, to.values);
  }

  /**
   * The audience is the relay's own (what its token receives), not the one asked for: view
   * requests are checked against it before they get here. A release the upstream does not know
   * fails with its `revision_not_found`.
   */
  async compute(spec: ViewSpec, _secrets: boolean, seq: number): Promise<ComputedView> {
    const labels = normaliseLabels(spec.labels);
    let payload = await this.#cache.readView(spec.namespace, labels, seq);
    let verified = payload === undefined ? undefined : this.#trust.verify(spec.namespace, labels, seq, payload);
    if (!verified) {
      payload = await this.#upstream.view(spec.namespace, labels, seq);
      verified = this.#trust.verify(spec.namespace, labels, seq, payload);
      if (!verified) {
        await this.#trust.refresh();
        verified = this.#trust.verify(spec.namespace, labels, seq, payload);
      }
      if (!verified)
        throw new HeraldError(
          'unavailable',
          `the upstream sent release ${seq} of ${spec.namespace} that does not verify`,
          {
            retryAfter: 1,
          },
        );
      await this.#cache.writeView(spec.namespace, labels, seq, payload);
    }
    const { manifest, signature, values } = verified;
    this.#onHeld(spec.namespace, labels, manifest.seq);
    return {
      key: viewKey({ namespace: spec.namespace, labels }, manifest.secrets),
      spec: { namespace: spec.namespace, labels },
      secrets: manifest.secrets,
      release: {
        namespace: spec.namespace,
        seq: manifest.seq,
        revision: manifest.revision,
        createdAt: manifest.issuedAt,
      },
      values,
      digest: manifest.digest,
      signed: { manifest, signature },
    };
  }
}
