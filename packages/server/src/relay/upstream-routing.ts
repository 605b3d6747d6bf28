import { parsePolicy, selectsCandidate, type TimerClock } from '@herald/core';
import { Backoff, Sleep } from '@herald/sdk/internal';
import type { RouteDescription } from '../delivery/backend.js';
import type { ReleaseRef } from '../delivery/release-ref.js';
import type { NamespaceRoute, Routing } from '../delivery/routing.js';
import type { RelayCache } from './relay-cache.js';
import { UpstreamRefusal, type Upstream } from './upstream.js';

/**
 * A relay's routing: the upstream's word on where each namespace stands. The first ask of a
 * namespace reads the route kept on disk (or asks the upstream once), then one long poll per
 * namespace keeps it current; errors back off and never stop it. Each instance's release is then
 * selected here exactly as the control plane would (the same pure function over the rollout the
 * upstream describes). Every route that arrives is passed to `onChange`: on a relay, that is
 * what wakes the watch hub.
 */
export class UpstreamRouting implements Routing {
  readonly #upstream: Upstream;
  readonly #cache: RelayCache;
  readonly #clock: TimerClock;
  readonly #waitSeconds: number;
  readonly #refusalRetryMs: number;
  readonly #onChange: () => void;
  readonly #onRelease: (namespace: string, seq: number) => void;
  readonly #routes = new Map<string, { description: RouteDescription; route: NamespaceRoute }>();
  readonly #followers = new Map<string, Promise<void>>();
  readonly #stop = new AbortController();
  #revision = 0;
  /** Per namespace, when each recent release was made (seq → createdAt), as routes told: propagation is measured from it. */
  readonly #released = new Map<string, Map<number, number>>();

  constructor(deps: {
    upstream: Upstream;
    cache: RelayCache;
    clock: TimerClock;
    waitSeconds: number;
    refusalRetryMs: number;
    onChange: () => void;
    /** Told of every release a route names (a relay's receipt of it). */
    onRelease?: (namespace: string, seq: number) => void;
  }) {
    this.#onRelease = deps.onRelease ?? (() => undefined);
    this.#upstream = deps.upstream;
    this.#cache = deps.cache;
    this.#clock = deps.clock;
    this.#waitSeconds = deps.waitSeconds;
    this.#refusalRetryMs = deps.refusalRetryMs;
    this.#onChange = deps.onChange;
  }

  /** The highest store revision the upstream said it had seen: how fresh this relay is. */
  get revision(): number {
    return this.#revision;
  }

  /** Namespaces whose route is known. */
  get size(): number {
    return this.#routes.size;
  }

  /** The newest release the upstream routes each followed namespace to (candidate or stable). */
  newest(): Array<{ namespace: string; seq: number; createdAt: number }> {
    return [...this.#routes].map(([namespace, { route }]) => {
      const newest = route.candidate && route.candidate.seq > route.stable.seq ? route.candidate : route.stable;
      return { namespace, seq: newest.seq, createdAt: newest.createdAt };
    });
  }

  /** When a release routed lately was made; undefined for one this relay was never routed to. */
  releasedAt(namespace: string, seq: number): number | undefined {
    return this.#released.get(namespace)?.get(seq);
  }

  async route(namespace: string): Promise<NamespaceRoute | undefined> {
    const known = this.#routes.get(namespace);
    this.#follow(namespace);
    if (known) return known.route;
    const cached = await this.#cache.readRoute(namespace);
    if (cached) {
      this.#apply(namespace, cached, false);
      return this.#routes.get(namespace)?.route;
    }
    try {
      const fresh = await this.#upstream.route(namespace);
      if (fresh) this.#apply(namespace, fresh, true);
    } catch {
      return undefined;
    }
    return this.#routes.get(namespace)?.route;
  }

  /** Stops following: the long polls in flight are cut, and resolves once every follower has ended. */
  async close(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#followers.values());
  }

  #follow(namespace: string): void {
    const signal = this.#stop.signal;
    if (this.#followers.has(namespace) || signal.aborted) return;
    const backoff = new Backoff();
    const loop = async () => {
      while (!signal.aborted) {
        try {
          const version = this.#routes.get(namespace)?.description.version;
          const fresh = await this.#upstream.route(namespace, { version, waitSeconds: this.#waitSeconds, signal });
          if (fresh) this.#apply(namespace, fresh, true);
          backoff.reset();
        } catch (error) {
          if (signal.aborted) return;
          if (error instanceof UpstreamRefusal) await this.#sleep(this.#refusalRetryMs, signal);
          // A backoff grown during an outage ends once the upstream answers ready again.
          else await this.#upstream.waitForRecovery(backoff.next(), backoff, (ms) => this.#sleep(ms, signal), signal);
        }
      }
    };
    this.#followers.set(namespace, loop());
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    const sleep = new Sleep(this.#clock, ms);
    const cancel = () => sleep.cancel();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      await sleep.promise;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  #apply(namespace: string, description: RouteDescription, persist: boolean): void {
    const rollout = description.rollout;
    const policy = rollout ? parsePolicy(rollout.policy) : undefined;
    const ref = (release: RouteDescription['stable']): ReleaseRef => ({
      namespace,
      seq: release.seq,
      revision: release.revision,
      createdAt: release.createdAt,
    });
    const route: NamespaceRoute = {
      stable: ref(description.stable),
      ...(description.candidate ? { candidate: ref(description.candidate) } : {}),
      isTargeted: rollout && policy ? (instance) => selectsCandidate(rollout.state, policy, instance) : () => false,
      version: description.version,
      ...(rollout ? { rollout } : {}),
    };
    this.#routes.set(namespace, { description, route });
    const released = this.#released.get(namespace) ?? new Map<number, number>();
    for (const ref of [route.stable, route.candidate]) {
      if (!ref) continue;
      released.set(ref.seq, ref.createdAt);
      this.#onRelease(namespace, ref.seq);
    }
    // A namespace's last few releases are enough: reports are of what instances applied lately.
    for (const seq of released.keys()) if (released.size > 32) released.delete(seq);
    this.#released.set(namespace, released);
    if (description.revision !== undefined) this.#revision = Math.max(this.#revision, description.revision);
    if (persist) void this.#cache.writeRoute(namespace, description).catch(() => undefined);
    this.#onChange();
  }
}
