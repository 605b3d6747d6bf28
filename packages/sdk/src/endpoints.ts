import type { Clock } from '@herald/core';

/**
 * The endpoints a client may use, in order of preference (the region's relay, a second relay,
 * the control plane), and which one it uses now. Every endpoint serves the same signed releases,
 * so moving between them changes nothing the client can observe but latency: the client still
 * verifies every view and refuses a lower seq from any of them.
 *
 * The stream moves on (`failover`) when the endpoint in use refuses connections, goes silent past
 * the heartbeat deadline or sheds the client; an endpoint that said Retry-After is not tried again
 * before then. While on a less preferred endpoint, the more preferred ones are probed (`/readyz`)
 * and the client moves back (`failbackCandidate`) only to one that has answered ready for
 * `failbackAfterMs` without a failure in between: one good probe is not enough, so a flapping
 * relay does not pull its clients back and forth.
 */
export interface FailoverOptions {
  /** Milliseconds a preferred endpoint must stay ready before the client moves back to it. Default 60,000. */
  failbackAfterMs?: number;
  /** Milliseconds between readiness probes of the preferred endpoints. Default 10,000. */
  probeIntervalMs?: number;
}

export const defaultFailover = Object.freeze({ failbackAfterMs: 60_000, probeIntervalMs: 10_000 });

/** At most this many endpoints (a list longer than this is a configuration mistake). */
export const maxEndpoints = 16;

interface EndpointState {
  readonly url: URL;
  /** Not to be tried before (a Retry-After it gave), ms since the epoch. */
  notBefore: number;
  /** Since when its probes have answered ready without a failure, or undefined. */
  readySince: number | undefined;
}

export class Endpoints {
  readonly #states: EndpointState[];
  readonly #clock: Clock;
  readonly failbackAfterMs: number;
  readonly probeIntervalMs: number;
  #index = 0;
  #since: number;

  constructor(urls: readonly URL[], clock: Clock, options: FailoverOptions = {}) {
    if (urls.length === 0) throw new RangeError('at least one endpoint');
    this.#states = urls.map((url) => ({ url, notBefore: 0, readySince: undefined }));
    this.#clock = clock;
    this.failbackAfterMs = options.failbackAfterMs ?? defaultFailover.failbackAfterMs;
    this.probeIntervalMs = options.probeIntervalMs ?? defaultFailover.probeIntervalMs;
    this.#since = clock.now();
  }

  /** Every endpoint, most preferred first. */
  get all(): readonly URL[] {
    return this.#states.map((s) => s.url);
  }

  /** The endpoint in use. */
  get current(): URL {
    return this.#states[this.#index]!.url;
  }

  /** Its place in the list (0: the most preferred). */
  get index(): number {
    return this.#index;
  }

  /** When the client moved to it (ms since the epoch). */
  get since(): number {
    return this.#since;
  }

  /** A path of the endpoint in use (a path prefix of its URL is kept). */
  url(path: string): URL {
    return new URL(path, this.current);
  }

  /** Milliseconds before the endpoint in use may be tried (what it said in Retry-After), 0 when now. */
  waitMs(): number {
    return Math.max(0, this.#states[this.#index]!.notBefore - this.#clock.now());
  }

  /**
   * The endpoint in use failed in a way another endpoint may not: moves to the next one in order
   * (after the last, the first again), preferring one that did not ask to be left alone for longer.
   * Answers the move, or undefined with a single endpoint.
   */
  failover(retryAfterMs: number | undefined): { from: URL; to: URL } | undefined {
    const now = this.#clock.now();
    const failed = this.#states[this.#index]!;
    failed.readySince = undefined;
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0)
      failed.notBefore = now + retryAfterMs;
    if (this.#states.length === 1) return undefined;
    const order = this.#states.map((_, i) => (this.#index + 1 + i) % this.#states.length).slice(0, -1);
    const next = order.find((i) => this.#states[i]!.notBefore <= now) ?? order[0]!;
    return this.#moveTo(next, failed.url);
  }

  /** The client is back on `index` (a failback): from now on it is the endpoint in use. */
  failback(index: number): { from: URL; to: URL } {
    return this.#moveTo(index, this.current);
  }

  /** The preferred endpoints to probe now: those before the one in use. */
  probeTargets(): ReadonlyArray<{ index: number; url: URL }> {
    return this.#states.slice(0, this.#index).map((s, index) => ({ index, url: s.url }));
  }

  /** What a readiness probe of endpoint `index` answered. */
  probed(index: number, ready: boolean): void {
    const state = this.#states[index];
    if (!state) return;
    if (!ready) state.readySince = undefined;
    else state.readySince ??= this.#clock.now();
  }

  /** The most preferred endpoint before the one in use that has stayed ready long enough, if any. */
  failbackCandidate(): number | undefined {
    const now = this.#clock.now();
    for (let i = 0; i < this.#index; i += 1) {
      const state = this.#states[i]!;
      if (state.notBefore > now) continue;
      if (state.readySince !== undefined && now - state.readySince >= this.failbackAfterMs) return i;
    }
    return undefined;
  }

  #moveTo(index: number, from: URL): { from: URL; to: URL } {
    this.#index = index;
    this.#since = this.#clock.now();
    // Readiness is measured afresh each time the client is away from an endpoint.
    for (const state of this.#states) state.readySince = undefined;
    return { from, to: this.current };
  }
}

/**
 * The `url` option as endpoints: one URL, a list, or a comma-separated string (as `--url` and
 * HERALD_URL give it). Answers the URLs, each ending in `/` so that a path prefix is kept, or
 * throws the problem in words.
 */
export function parseEndpointList(input: string | URL | ReadonlyArray<string | URL>): URL[] {
  const items: Array<string | URL> =
    typeof input === 'string'
      ? input
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
      : input instanceof URL
        ? [input]
        : Array.isArray(input)
          ? [...(input as ReadonlyArray<string | URL>)]
          : [];
  if (items.length === 0) throw new Error('url must name at least one endpoint');
  if (items.length > maxEndpoints) throw new Error(`url names ${items.length} endpoints; at most ${maxEndpoints}`);
  const urls = items.map((item) => {
    let url: URL;
    try {
      url = new URL(String(item));
    } catch {
      throw new Error(`url "${String(item)}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`url must be http: or https:, not ${url.protocol}`);
    if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
    return url;
  });
  const seen = new Set<string>();
  for (const url of urls) {
    if (seen.has(url.href)) throw new Error(`url names ${url.href} twice`);
    seen.add(url.href);
  }
  return urls;
}
