import type { Clock } from '@herald/core';

/** What the lag is measured against: the upstream's newest release per namespace, and whether the upstream answers. */
export interface LagSources {
  newest(): Array<{ namespace: string; seq: number; createdAt: number }>;
  /** Since when the upstream has been unreachable; undefined while it answers. */
  unreachableSince(): number | undefined;
}

export interface NamespaceLag {
  namespace: string;
  releasesBehind: number;
  secondsBehind: number;
}

/**
 * How far behind its upstream a relay is, per namespace it follows: in releases, the upstream's
 * newest minus the oldest of the newest releases this relay holds verified per view (what it can
 * serve); in seconds, how long the newest release has existed unheld, or, while the upstream is
 * unreachable, how long the relay could have missed releases unseen. An idle relay that is
 * current is 0 and 0, however long ago the upstream last answered (its long polls are quiet by
 * design); a relay that reached the upstream but cannot fetch what it routes to is behind.
 */
export class RelayLag {
  readonly #clock: Clock;
  readonly #sources: LagSources;
  /** Per namespace, per label stack, the newest seq held. */
  readonly #held = new Map<string, Map<string, number>>();

  constructor(deps: { clock: Clock; sources: LagSources }) {
    this.#clock = deps.clock;
    this.#sources = deps.sources;
  }

  /** A view release was verified and can be served (fetched, or read from the cache). */
  held(namespace: string, labels: readonly string[], seq: number): void {
    const views = this.#held.get(namespace) ?? new Map<string, number>();
    const key = JSON.stringify(labels);
    views.set(key, Math.max(seq, views.get(key) ?? 0));
    this.#held.set(namespace, views);
  }

  measure(): NamespaceLag[] {
    const now = this.#clock.now();
    const down = this.#sources.unreachableSince();
    return this.#sources.newest().flatMap(({ namespace, seq, createdAt }) => {
      const views = this.#held.get(namespace);
      // Followed but no view asked for yet: nothing served, nothing to be behind on.
      if (!views || views.size === 0) return [];
      const held = Math.min(...views.values());
      const releasesBehind = Math.max(0, seq - held);
      const unheldFor = releasesBehind > 0 ? Math.max(0, now - createdAt) : 0;
      const unseenFor = down === undefined ? 0 : Math.max(0, now - down);
      return [{ namespace, releasesBehind, secondsBehind: Math.max(unheldFor, unseenFor) / 1000 }];
    });
  }
}
