import { HeraldError, type Clock, type PublicKeyInfo, type Scope } from '@herald/core';
import { tlsFetch, type ClientTlsOptions } from '@herald/sdk';
import { readProblem } from '@herald/sdk/internal';
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

export type UpstreamOutage =
  { state: 'down'; since: number; cause: unknown } | { state: 'up'; since: number; lastedMs: number };

/** An upstream answered with an error we pass on as it is (401, 403, 404…). */
export class UpstreamRefusal extends HeraldError {}

/**
 * The relay's view of its upstream (a control plane or another relay): the same public API a
 * client uses. Network failures become `unavailable`; refusals keep the upstream's code.
 */
export class Upstream {
  readonly url: URL;
  readonly #token: () => string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  /** When the upstream last answered anything (the clock's time); 0 before the first answer. */
  lastContact = 0;
  /** Since when the upstream has been unreachable (the clock's time); undefined while it answers. */
  unreachableSince: number | undefined;
  readonly #onOutage: (event: UpstreamOutage) => void;
  /** This relay's name, appended to the hops of the reports it forwards. */
  readonly #name: string | undefined;

  constructor(deps: {
    url: string;
    token: string | (() => string);
    timeoutMs: number;
    clock: Clock;
    /** A client certificate (and CA) for the upstream: requests then go over tlsFetch. */
    tls?: ClientTlsOptions | undefined;
    /** Told once when an outage starts and once when it ends, never per failed request. */
    onOutage?: (event: UpstreamOutage) => void;
    name?: string | undefined;
  }) {
    this.#onOutage = deps.onOutage ?? (() => undefined);
    this.#name = deps.name;
    const { url, token } = deps;
    this.url = new URL(url.endsWith('/') ? url : `${url}/`);
    this.#token = typeof token === 'function' ? token : () => token;
    this.#fetch = deps.tls === undefined ? globalThis.fetch : tlsFetch(deps.tls);
    this.#timeoutMs = deps.timeoutMs;
    this.#clock = deps.clock;
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
    const url = new URL(`v1/route/${encodeURIComponent(namespace)}`, this.url);
    if (poll?.version !== undefined) url.searchParams.set('version', poll.version);
    if (poll) url.searchParams.set('wait', String(poll.waitSeconds));
    return (await this.#request(
      url,
      { method: 'GET', ...(poll ? { signal: poll.signal } : {}) },
      undefined,
      (poll?.waitSeconds ?? 0) * 1000,
    )) as RouteDescription | undefined;
  }

  async view(namespace: string, labels: readonly string[], seq: number): Promise<unknown> {
    const url = new URL(`v1/views/${encodeURIComponent(namespace)}`, this.url);
    for (const label of labels) url.searchParams.append('label', label);
    url.searchParams.set('seq', String(seq));
    return this.#request(url, { method: 'GET' }, undefined, 0);
  }

  /** Sends relays' receipts of releases (this relay's and those behind it), for release traces. */
  async receipts(receipts: readonly RelayReceiptInput[]): Promise<void> {
    for (let i = 0; i < receipts.length; i += 5000) {
      await this.#request(
        new URL('v1/reports/batch', this.url),
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
      new URL('v1/reports/batch', this.url),
      { method: 'POST', body: JSON.stringify({ reports: body }), headers: { 'content-type': 'application/json' } },
      undefined,
      0,
    )) as { refused?: Array<{ index: number; instanceId: string; code: string }> } | undefined;
    return answer?.refused ?? [];
  }

  #get(path: string, token: string | undefined): Promise<unknown> {
    return this.#request(new URL(path, this.url), { method: 'GET' }, token, 0);
  }

  async #request(url: URL, init: RequestInit, token: string | undefined, extraMs: number): Promise<unknown> {
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
      if (!init.signal?.aborted && this.unreachableSince === undefined) {
        this.unreachableSince = this.#clock.now();
        this.#onOutage({ state: 'down', since: this.unreachableSince, cause });
      }
      throw new HeraldError('unavailable', `the upstream ${this.url.origin} is unreachable`, { cause, retryAfter: 1 });
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
