import { HeraldError, type Clock, type PublicKeyInfo, type Scope } from '@herald/core';
import type { InstanceReport } from '@herald/store';
import type { RouteDescription } from '../delivery/backend.js';

/** An upstream answered with an error we pass on as it is (401, 403, 404…). */
export class UpstreamRefusal extends HeraldError {}

/**
 * The relay's view of its upstream (a control plane or another relay): the same public API a
 * client uses. Network failures become `unavailable`; refusals keep the upstream's code.
 */
export class Upstream {
  readonly url: URL;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  /** When the upstream last answered anything (the clock's time); 0 before the first answer. */
  lastContact = 0;

  constructor(deps: { url: string; token: string; timeoutMs: number; clock: Clock }) {
    const { url } = deps;
    this.url = new URL(url.endsWith('/') ? url : `${url}/`);
    this.#token = deps.token;
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

  /** Forwards reports; answers those the upstream refused (instance_conflict, instance_limit), by index. */
  async reports(
    reports: readonly Omit<InstanceReport, 'at'>[],
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
      })),
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
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string> | undefined),
          authorization: `Bearer ${token ?? this.#token}`,
          accept: 'application/json',
        },
        signal: init.signal
          ? AbortSignal.any([init.signal, AbortSignal.timeout(this.#timeoutMs + extraMs)])
          : AbortSignal.timeout(this.#timeoutMs + extraMs),
      });
    } catch (cause) {
      throw new HeraldError('unavailable', `the upstream ${this.url.origin} is unreachable`, { cause, retryAfter: 1 });
    }
    this.lastContact = this.#clock.now();
    if (response.status === 304) return undefined;
    const text = await response.text();
    if (response.status >= 400) {
      let problem: { code?: string; detail?: string } = {};
      try {
        problem = JSON.parse(text) as typeof problem;
      } catch {
        // not problem+json: keep the status only
      }
      if (response.status >= 500)
        throw new HeraldError('unavailable', `the upstream answered ${response.status}: ${problem.detail ?? ''}`, {
          retryAfter: 1,
        });
      const code =
        problem.code &&
        problem.code in
          { unauthenticated: 1, forbidden: 1, namespace_not_found: 1, revision_not_found: 1, revision_compacted: 1 }
          ? problem.code
          : 'invalid_request';
      throw new UpstreamRefusal(code as 'forbidden', problem.detail ?? `the upstream answered ${response.status}`);
    }
    return text.length === 0 ? undefined : (JSON.parse(text) as unknown);
  }
}
