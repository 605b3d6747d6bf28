import { HeraldError, tokenLineage } from '@herald/core';

/**
 * Watch streams per credential: one lineage (a token and its rotated successors, a client
 * certificate) holds at most `maxPerToken` streams on this node, so that one leaked or looping
 * credential cannot take the node's whole `maxWatchStreams`. The count is of open streams: a slot
 * comes back when its stream closes, however it ends.
 */
export class StreamCaps {
  readonly #maxPerToken: number;
  readonly #retryAfterSeconds: number;
  readonly #open = new Map<string, number>();

  constructor(options: { maxPerToken: number; retryAfterSeconds: number }) {
    this.#maxPerToken = options.maxPerToken;
    this.#retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Open streams of the credential that `tokenId` belongs to. */
  count(tokenId: string): number {
    return this.#open.get(tokenLineage(tokenId)) ?? 0;
  }

  /**
   * Takes a slot for a new stream of `tokenId`'s credential; the function returned gives it back
   * (once, however often it is called). `too_many_streams` (429) when the credential holds its cap.
   */
  acquire(tokenId: string): () => void {
    const lineage = tokenLineage(tokenId);
    const open = this.#open.get(lineage) ?? 0;
    if (open >= this.#maxPerToken) {
      throw new HeraldError(
        'too_many_streams',
        `token ${lineage} holds ${open} watch streams on this node, its limit (maxStreamsPerToken); close one, or share a stream through an agent or a relay`,
        { retryAfter: this.#retryAfterSeconds },
      );
    }
    this.#open.set(lineage, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(lineage) ?? 1) - 1;
      if (left <= 0) this.#open.delete(lineage);
      else this.#open.set(lineage, left);
    };
  }
}
