import { HeraldError, type Clock, type PublicKeyInfo, type Scope } from '@herald/core';
import { nodeFetch, type ClientTlsOptions } from '@herald/sdk';
import { Endpoints, parseEndpointList, readProblem, type Backoff } from '@herald/sdk/internal';
import type { CollectedReport } from '../delivery/reports.js';
import type { RelayReceiptInput, RouteDescription } from '../delivery/backend.js';

/** The upstream's refusals a relay passes on to its clients as they are; any other 4xx is the relay's own invalid_request. */
const passedOn: ReadonlySet<string> = new Set([
  'unauthenticated',
  'token_expired',
  'forbidden',
  'namespace_not_found',
  'revision_not_found',
  'revision_compacted',
]);

/** The relay moved to another upstream endpoint: after a failure, or back to a preferred one that stayed ready. */
export interface UpstreamMove {
  kind: 'failover' | 'failback';
  from: string;
  to: string;
  reason: string;
}

export type UpstreamOutage =
  { state: 'down'; since: number; cause: unknown } | { state: 'up'; since: number; lastedMs: number };

/** An upstream answered with an error we pass on as it is (401, 403, 404…). */
export class UpstreamRefusal extends HeraldError {}

/**
 * The relay's view of its upstream (a control plane or another relay): the same public API a
 * client uses. Network failures become `unavailable`; refusals keep the upstream's code.
 *
 * Several upstreams are endpoints in order of preference, as for any client (sdk endpoints.ts):
 * a request that cannot reach the one in use, or that it sheds (5xx), fails over to the next for
 * the requests after it (the relay's loops retry on their own); `probe()` asks the preferred ones
 * for readiness and moves back to one that has stayed ready. Each serves the same signed releases,
 * which the relay verifies whichever sent them.
 */
export class Upstream {
  readonly #endpoints: Endpoints;
  readonly #token: () => string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  /** When the upstream last answered anything (the clock's time); 0 before the first answer. */
  lastContact = 0;
  /** Since when the upstream has been unreachable (the clock's time); undefined while it answers. */
  unreachableSince: number | undefined;
  readonly #onOutage: (event: UpstreamOutage) => void;
  readonly #onMove: (event: UpstreamMove) => void;
  #probing = false;
  #recoveryProbe: Promise<boolean> | undefined;
  /**
   * Cuts the long polls in flight when the upstream in use is found unreachable or another is
   * taken: a poll sent into a link that went silent would otherwise wait for its own timeout (its
   * wait plus timeoutMs, 40 s by default) before the relay asks again, even after the link is back.
   */
  #polls = new AbortController();
  /** This relay's name, appended to the hops of the reports it forwards. */
  readonly #name: string | undefined;

  constructor(deps: {
    url: string;
    token: string | (() => string);
    timeoutMs: number;
    clock: Clock;
    /** A client certificate (and CA) for the upstream (https: only). */
    tls?: ClientTlsOptions | undefined;
    /** Told once when an outage starts and once when it ends, never per failed request. */
    onOutage?: (event: UpstreamOutage) => void;
    /** Told when the relay moves to another upstream endpoint. */
    onMove?: (event: UpstreamMove) => void;
    /** When to move back to a preferred upstream (sdk FailoverOptions). */
    failover?: { failbackAfterMs?: number; probeIntervalMs?: number };
    name?: string | undefined;
  }) {
    this.#onOutage = deps.onOutage ?? (() => undefined);
    this.#onMove = deps.onMove ?? (() => undefined);
    this.#name = deps.name;
    const { url, token } = deps;
    this.#endpoints = new Endpoints(parseEndpointList(url), deps.clock, deps.failover);
    this.#token = typeof token === 'function' ? token : () => token;
    // The SDK's fetch over node:http(s): a relay's polls and reports cost a fraction of Node's fetch.
    this.#fetch = nodeFetch(deps.tls);
    this.#timeoutMs = deps.timeoutMs;
    this.#clock = deps.clock;
  }

  /** The upstream endpoint in use. */
  get url(): URL {
    return this.#endpoints.current;
  }

  /** Since when the endpoint in use has been (the clock's time). */
  get endpointSince(): number {
    return this.#endpoints.since;
  }

  /** Milliseconds between readiness probes of preferred upstreams (the relay's timer calls `probe`). */
  get probeIntervalMs(): number {
    return this.#endpoints.probeIntervalMs;
  }

  /**
   * While on a less preferred upstream: one readiness probe of each preferred one (200 from
   * /readyz, and for a relay an upstream it reaches), then back to one that stayed ready long enough.
   */
  async probe(): Promise<void> {
    if (this.#probing || this.#endpoints.index === 0) return;
    this.#probing = true;
    try {
      await Promise.all(
        this.#endpoints
          .probeTargets()
          .map(async ({ index, url }) => this.#endpoints.probed(index, await this.#probeReady(url))),
      );
      const candidate = this.#endpoints.failbackCandidate();
      if (candidate === undefined) return;
      const moved = this.#endpoints.failback(candidate);
      this.#cutPolls();
      this.#onMove({
        kind: 'failback',
        from: moved.from.href,
        to: moved.to.href,
        reason: `ready for ${this.#endpoints.failbackAfterMs} ms`,
      });
    } finally {
      this.#probing = false;
    }
  }

  /**
   * Waits `ms` (a backoff after a failure), ending early once the upstream in use answers its
   * readiness probe, probed every `backoff.probeDelay()`: a relay whose loops backed off during a
   * long outage follows again within a probe interval of the upstream's return. The relay's
   * loops share one probe in flight, whatever their number.
   */
  async waitForRecovery(
    ms: number,
    backoff: Backoff,
    sleep: (ms: number) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const until = this.#clock.now() + ms;
    // A short wait is slept out (as the SDK does): probing it would gain little.
    if (backoff.probeIntervalMs === 0 || ms <= 2 * backoff.probeIntervalMs) return sleep(ms);
    while (!signal.aborted) {
      const left = until - this.#clock.now();
      if (left <= 0) return;
      const step = backoff.probeIntervalMs === 0 ? left : Math.min(left, backoff.probeDelay());
      await sleep(step);
      if (signal.aborted || step === left) return;
      this.#recoveryProbe ??= this.#probeReady(this.#endpoints.current).finally(
        () => (this.#recoveryProbe = undefined),
      );
      if (await this.#recoveryProbe) return;
    }
  }

  /** Ready is a 200 from /readyz, from an upstream that reaches its own (a relay says so). */
  async #probeReady(url: URL): Promise<boolean> {
    try {
      const response = await this.#fetch(new URL('readyz', url), { signal: AbortSignal.timeout(this.#timeoutMs) });
      const body = (await response.json().catch(() => ({}))) as { upstream?: unknown };
      return response.status === 200 && body.upstream !== 'unreachable';
    } catch {
      return false;
    }
  }

  /** The request failed at the endpoint in use in a way another may not: the next requests go to the next one. */
  #failover(reason: string, retryAfterMs?: number): void {
    const moved = this.#endpoints.failover(retryAfterMs);
    if (!moved) return;
    this.#cutPolls();
    this.#onMove({ kind: 'failover', from: moved.from.href, to: moved.to.href, reason });
  }

  /** The long polls in flight end (their followers ask again, on the endpoint now in use). */
  #cutPolls(): void {
    this.#polls.abort();
    this.#polls = new AbortController();
  }

  async keys(): Promise<PublicKeyInfo[]> {
    return ((await this.#get('v1/keys', undefined)) as { keys: PublicKeyInfo[] }).keys;
  }

  /** Asks the upstream who a token is (the relay's own when absent); `unauthenticated` when it does not know it. */
  async whoami(token?: string): Promise<{ tokenId: string; name: string; scopes: Scope[] }> {
    return (await this.#get('v1/whoami', token)) as { tokenId: string; name: string; scopes: Scope[] };
  }

  /**
   * The namespace's route; with `poll`, a long poll that answers undefined when the route is
   * still `version` after `waitSeconds`. Its signal ends the poll early (the relay closes).
   */
  async route(
    namespace: string,
    poll?: { version: string | undefined; waitSeconds: number; signal: AbortSignal },
  ): Promise<RouteDescription | undefined> {
    const query = new URLSearchParams();
    if (poll?.version !== undefined) query.set('version', poll.version);
    // While the upstream is unreachable, an ask that answers at once: the first one that does ends the outage.
    const waitSeconds = poll && this.unreachableSince === undefined ? poll.waitSeconds : 0;
    if (poll) query.set('wait', String(waitSeconds));
    return (await this.#request(
      `v1/route/${encodeURIComponent(namespace)}?${query.toString()}`,
      { method: 'GET', ...(poll ? { signal: AbortSignal.any([poll.signal, this.#polls.signal]) } : {}) },
      undefined,
      waitSeconds * 1000,
    )) as RouteDescription | undefined;
  }

  async view(namespace: string, labels: readonly string[], seq: number): Promise<unknown> {
    const query = new URLSearchParams();
    for (const label of labels) query.append('label', label);
    query.set('seq', String(seq));
    return this.#request(
      `v1/views/${encodeURIComponent(namespace)}?${query.toString()}`,
      { method: 'GET' },
      undefined,
      0,
    );
  }

  /** Sends relays' receipts of releases (this relay's and those behind it), for release traces. */
  async receipts(receipts: readonly RelayReceiptInput[]): Promise<void> {
    for (let i = 0; i < receipts.length; i += 5000) {
      await this.#request(
        'v1/reports/batch',
        {
          method: 'POST',
          body: JSON.stringify({ reports: [], relays: receipts.slice(i, i + 5000) }),
          headers: { 'content-type': 'application/json' },
        },
        undefined,
        0,
      );
    }
  }

  /** Forwards reports; answers those the upstream refused (instance_conflict, instance_limit), by index. */
  async reports(
    reports: readonly Omit<CollectedReport, 'at'>[],
  ): Promise<Array<{ index: number; instanceId: string; code: string }>> {
    const body = reports.map((r) => ({
      instanceId: r.instanceId,
      // The client's identity as this relay checked it; the upstream puts this relay's token id before it.
      reporter: r.reporter,
      attributes: r.attributes,
      health: { status: r.health, detail: r.healthDetail },
      views: r.views.map((v) => ({
        namespace: v.namespace,
        labels: v.labels,
        seq: v.seq,
        digest: v.digest,
        status: v.status,
        ...(v.reason ? { reason: v.reason } : {}),
        ...(v.receivedAt === undefined ? {} : { receivedAt: v.receivedAt }),
        ...(v.appliedAt === undefined ? {} : { appliedAt: v.appliedAt }),
      })),
      ...(r.leaving === true ? { leaving: true } : {}),
      // The upstream learns the way the report came: the hops before this relay, then this relay.
      ...(this.#name === undefined ? {} : { hops: [...(r.hops ?? []), this.#name].slice(-16) }),
    }));
    const answer = (await this.#request(
      'v1/reports/batch',
      { method: 'POST', body: JSON.stringify({ reports: body }), headers: { 'content-type': 'application/json' } },
      undefined,
      0,
    )) as { refused?: Array<{ index: number; instanceId: string; code: string }> } | undefined;
    return answer?.refused ?? [];
  }

  /** Forwards flag evaluation counts (the relay's tally), alone in a batch: an upstream from before them refuses only them. */
  async evaluations(
    evaluations: ReadonlyArray<{ namespace: string; flag: string; variant: string; count: number }>,
  ): Promise<void> {
    await this.#request(
      'v1/reports/batch',
      {
        method: 'POST',
        body: JSON.stringify({ reports: [], evaluations }),
        headers: { 'content-type': 'application/json' },
      },
      undefined,
      0,
    );
  }

  #get(path: string, token: string | undefined): Promise<unknown> {
    return this.#request(path, { method: 'GET' }, token, 0);
  }

  /** One request to the upstream endpoint in use; `path` is relative to it (a path prefix is kept). */
  async #request(path: string, init: RequestInit, token: string | undefined, extraMs: number): Promise<unknown> {
    const url = new URL(path, this.#endpoints.current);
    const started = this.#clock.now();
    let response: Response;
    try {
      response = await this.#fetch(url, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string> | undefined),
          authorization: `Bearer ${token ?? this.#token()}`,
          accept: 'application/json',
        },
        signal: init.signal
          ? AbortSignal.any([init.signal, AbortSignal.timeout(this.#timeoutMs + extraMs)])
          : AbortSignal.timeout(this.#timeoutMs + extraMs),
      });
    } catch (cause) {
      // A caller's own abort (shutdown, a closed watch) says nothing about the upstream.
      if (!init.signal?.aborted) {
        if (this.unreachableSince === undefined) {
          this.unreachableSince = this.#clock.now();
          this.#onOutage({ state: 'down', since: this.unreachableSince, cause });
          this.#cutPolls();
        }
        this.#failover(cause instanceof Error ? cause.message : String(cause));
      }
      throw new HeraldError('unavailable', `the upstream ${url.origin} is unreachable`, { cause, retryAfter: 1 });
    }
    this.lastContact = this.#clock.now();
    // A late answer to a request sent before the outage began (a closing upstream's 503) does not end it.
    if (this.unreachableSince !== undefined && started >= this.unreachableSince) {
      const since = this.unreachableSince;
      this.unreachableSince = undefined;
      this.#onOutage({ state: 'up', since, lastedMs: this.lastContact - since });
    }
    if (response.status === 304) return undefined;
    if (response.status >= 400) {
      const problem = await readProblem(response, this.#clock.now());
      if (problem.status >= 500) {
        // Pass the upstream's own pacing on to the relay's clients when it gave one.
        const retryAfter = Math.max(1, Math.ceil((problem.retryAfterMs ?? 1000) / 1000));
        this.#failover(`${url.origin} answered ${problem.status}`, problem.retryAfterMs);
        throw new HeraldError('unavailable', `the upstream answered ${problem.status}: ${problem.detail}`, {
          retryAfter,
        });
      }
      const code = problem.code !== undefined && passedOn.has(problem.code) ? problem.code : 'invalid_request';
      throw new UpstreamRefusal(code as 'forbidden', problem.detail);
    }
    const text = await response.text();
    return text.length === 0 ? undefined : (JSON.parse(text) as unknown);
  }
}
