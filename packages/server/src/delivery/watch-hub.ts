import type { PublicKeyInfo, TimerClock, ViewSpec } from '@herald/core';
import { targetRelease, type InstanceIdentity, type NamespaceRoute, type Routing } from './routing.js';
import { encodeEvent, type WatchStream } from './sse.js';
import type { ComputedView, ViewService } from './views.js';

interface Subscriber {
  stream: WatchStream;
  instance: InstanceIdentity;
  /** What the client holds now, as far as this server has sent it. */
  seq: number | undefined;
  digest: string | undefined;
}

/** Everyone watching one view (namespace, labels, audience). Its work runs one step at a time. */
class Channel {
  readonly key: string;
  readonly spec: ViewSpec;
  readonly secrets: boolean;
  readonly subscribers = new Set<Subscriber>();
  /** The route the subscribers were last brought to. */
  routeVersion: string | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(key: string, spec: ViewSpec, secrets: boolean) {
    this.key = key;
    this.spec = spec;
    this.secrets = secrets;
  }

  /** Serialises work on the channel, so an attach never races a broadcast. */
  run(work: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

export interface WatchRequestView {
  spec: ViewSpec;
  key: string;
  secrets: boolean;
  seq?: number;
  digest?: string;
}

/** What the watch routes use of the hub: attaching streams and waiting. Waking it is not theirs to do. */
export type WatchSubscriptions = Pick<WatchHub, 'attach' | 'streamCount' | 'nextRelease' | 'nextRoute'>;

/**
 * Fans releases out to watch streams. Whenever it is told that routes may have moved (refresh(),
 * called by the one owner of releases: the control plane's ReleaseService, or a relay's upstream
 * routing) it asks the routing where each watched namespace stands; a channel whose route moved
 * sends each group of subscribers (same release held, same release due) one pre-encoded event:
 * the same bytes to every socket.
 */
export class WatchHub {
  readonly #routing: Routing;
  readonly #views: ViewService;
  readonly #clock: TimerClock;
  readonly #channels = new Map<string, Channel>();
  readonly #byNamespace = new Map<string, Set<Channel>>();
  readonly #streams = new Set<WatchStream>();
  readonly #onError: (error: unknown) => void;
  #checking: Promise<void> | undefined;
  #recheck = false;
  #heartbeat: unknown;
  /** The last route read per namespace: attaching streams (a reconnect storm) reuse it; every check refreshes it. */
  readonly #routes = new Map<string, NamespaceRoute>();
  /** Long polls waiting for a stable release newer than `afterSeq`, or (afterSeq NaN) for a route other than `version`. */
  readonly #waiters = new Map<string, Set<{ afterSeq: number; version?: string; done: () => void }>>();

  constructor(deps: { routing: Routing; views: ViewService; clock: TimerClock; onError: (error: unknown) => void }) {
    this.#routing = deps.routing;
    this.#views = deps.views;
    this.#clock = deps.clock;
    this.#onError = deps.onError;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Adds a stream for these views, sends each what it lacks, and keeps it up to date until it closes. */
  async attach(stream: WatchStream, instance: InstanceIdentity, views: readonly WatchRequestView[]): Promise<void> {
    this.#streams.add(stream);
    const subscriptions: Array<[Channel, Subscriber]> = [];
    stream.onClose(() => {
      this.#streams.delete(stream);
      for (const [channel, subscriber] of subscriptions) this.#leave(channel, subscriber);
    });
    for (const view of views) {
      const channel = this.#channel(view);
      const subscriber: Subscriber = { stream, instance, seq: view.seq, digest: view.digest };
      subscriptions.push([channel, subscriber]);
      await channel.run(async () => {
        if (stream.closed) return;
        channel.subscribers.add(subscriber);
        const route = this.#routes.get(channel.spec.namespace) ?? (await this.#routing.route(channel.spec.namespace));
        if (!route) return;
        this.#routes.set(channel.spec.namespace, route);
        await this.#bringUp(channel, route, [subscriber]);
      });
    }
  }

  /** Writes the same pre-encoded frame to every open stream (heartbeats, key changes). */
  broadcast(frame: Buffer): void {
    for (const stream of this.#streams) stream.write(frame);
  }

  /** Tells every stream the keys that sign from now on (a rotation, or keys a relay learned). */
  publishKeys(keys: readonly PublicKeyInfo[]): void {
    this.broadcast(encodeEvent('keys', { keys: [...keys] }));
  }

  /** Sends a heartbeat with the revision this node has seen every `everyMs`, until close(). */
  startHeartbeats(everyMs: number, revision: () => Promise<number>): void {
    this.#heartbeat ??= this.#clock.setInterval(() => {
      void revision().then(
        (seen) => this.broadcast(heartbeatFrame(seen, this.#clock.now())),
        () => undefined,
      );
    }, everyMs);
  }

  /** Resolves once this node sees a release of the namespace newer than `afterSeq`, or after `ms`. */
  nextRelease(namespace: string, afterSeq: number, ms: number): Promise<void> {
    return this.#wait(namespace, { afterSeq }, ms);
  }

  /** Resolves once the namespace's route is no longer `version` (a release, a wave, a pause), or after `ms`. */
  nextRoute(namespace: string, version: string, ms: number): Promise<void> {
    return this.#wait(namespace, { afterSeq: Number.NaN, version }, ms);
  }

  #wait(namespace: string, until: { afterSeq: number; version?: string }, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(namespace) ?? new Set();
      const waiter = {
        ...until,
        done: () => {
          this.#clock.clearTimeout(timer);
          waiters.delete(waiter);
          if (waiters.size === 0) this.#waiters.delete(namespace);
          resolve();
        },
      };
      const timer = this.#clock.setTimeout(waiter.done, ms);
      waiters.add(waiter);
      this.#waiters.set(namespace, waiters);
    });
  }

  /** Re-reads every watched namespace's route and sends what moved; bursts coalesce. */
  refresh(): void {
    if (this.#checking) {
      this.#recheck = true;
      return;
    }
    this.#checking = this.#check()
      .catch((error: unknown) => this.#onError(error))
      .finally(() => {
        this.#checking = undefined;
        if (this.#recheck) {
          this.#recheck = false;
          this.refresh();
        }
      });
  }

  /** Ends every stream (shutdown): clients reconnect elsewhere with what they hold. */
  close(): void {
    this.#clock.clearInterval(this.#heartbeat);
    for (const stream of this.#streams) stream.end();
    for (const waiters of [...this.#waiters.values()]) for (const waiter of [...waiters]) waiter.done();
  }

  #channel(view: WatchRequestView): Channel {
    let channel = this.#channels.get(view.key);
    if (!channel) {
      channel = new Channel(view.key, view.spec, view.secrets);
      this.#channels.set(view.key, channel);
      const set = this.#byNamespace.get(view.spec.namespace) ?? new Set();
      set.add(channel);
      this.#byNamespace.set(view.spec.namespace, set);
    }
    return channel;
  }

  #leave(channel: Channel, subscriber: Subscriber): void {
    channel.subscribers.delete(subscriber);
    if (channel.subscribers.size > 0) return;
    this.#channels.delete(channel.key);
    const set = this.#byNamespace.get(channel.spec.namespace);
    set?.delete(channel);
    if (set?.size === 0) {
      this.#byNamespace.delete(channel.spec.namespace);
      this.#routes.delete(channel.spec.namespace);
    }
  }

  async #check(): Promise<void> {
    const namespaces = new Set([...this.#byNamespace.keys(), ...this.#waiters.keys()]);
    for (const namespace of namespaces) {
      const route = await this.#routing.route(namespace);
      if (!route) {
        this.#routes.delete(namespace);
        continue;
      }
      this.#routes.set(namespace, route);
      for (const waiter of [...(this.#waiters.get(namespace) ?? [])]) {
        if (waiter.version === undefined ? route.stable.seq > waiter.afterSeq : route.version !== waiter.version)
          waiter.done();
      }
      for (const channel of this.#byNamespace.get(namespace) ?? []) {
        if (channel.routeVersion === route.version) continue;
        await channel.run(async () => {
          if (channel.routeVersion === route.version) return;
          await this.#bringUp(channel, route, [...channel.subscribers]);
          channel.routeVersion = route.version;
        });
      }
    }
  }

  /** Sends each subscriber what its route says it should hold: one encoding per (held, due) group. */
  async #bringUp(channel: Channel, route: NamespaceRoute, subscribers: Subscriber[]): Promise<void> {
    const groups = new Map<string, { target: ComputedView | undefined; seq: number; members: Subscriber[] }>();
    for (const subscriber of subscribers) {
      const due = targetRelease(route, subscriber.instance);
      const id = `${subscriber.seq ?? ''}|${subscriber.digest ?? ''}|${due.seq}`;
      const group = groups.get(id);
      if (group) group.members.push(subscriber);
      else groups.set(id, { target: undefined, seq: due.seq, members: [subscriber] });
    }
    for (const group of groups.values()) {
      const due = group.seq === route.stable.seq ? route.stable : (route.candidate ?? route.stable);
      const target = await this.#views.at(channel.spec, channel.secrets, due);
      const first = group.members[0] as Subscriber;
      // A client that already holds a newer release (from another node, or a rollout's candidate
      // before a pause) is never offered an older one: it would refuse it anyway.
      if (first.seq !== undefined && first.seq > target.release.seq) continue;
      const frame = await this.#views.catchUp(target, {
        ...(first.seq === undefined ? {} : { seq: first.seq }),
        ...(first.digest === undefined ? {} : { digest: first.digest }),
      });
      for (const subscriber of group.members) {
        if (frame) subscriber.stream.write(frame);
        subscriber.seq = target.release.seq;
        subscriber.digest = target.digest;
      }
    }
  }
}

function heartbeatFrame(revision: number, at: number): Buffer {
  return encodeEvent('heartbeat', { at, revision });
}
