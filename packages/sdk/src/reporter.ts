import { Backoff } from './backoff.js';
import type { ClientStatus } from './client-types.js';
import { HeraldClientError } from './errors.js';
import { problemFromResponse } from './http-problem.js';
import { endpoint, requestHeaders, type HealthStatus, type ResolvedOptions } from './options.js';

/** One view's line of a report (docs/protocol.md, "Reports"). */
export interface ReportedView {
  readonly namespace: string;
  readonly labels: readonly string[];
  readonly seq: number;
  readonly digest: string;
  readonly status: 'applied' | 'rejected';
  readonly reason?: string;
  /** When the release was received and applied (ms since the epoch, this instance's clock); absent for what came from the cache. */
  readonly receivedAt?: number;
  readonly appliedAt?: number;
}

const reportTimeoutMs = 10_000;
/** Distinct (namespace, flag, variant) counted between two reports: the server's bound on a report's evaluations. */
export const maxCountedEvaluations = 1000;
/** One count's bound in a report, as the server takes it. */
export const maxEvaluationCount = 1_000_000_000;
/** The first retry of a failed report comes within this; each further one doubles it, up to the report interval (and 30 s). */
const retryBaseMs = 1_000;
const retryCapMs = 30_000;
const closeReportTimeoutMs = 2_000;
export const maxReasonLength = 1000;

/**
 * Tells the server what this instance runs: POST /v1/reports after every applied or refused view
 * (bursts coalesce into one) and at least every `reportIntervalMs` (±10 %), with the health the
 * application set. A failed report is a status event, never an exception: the next one follows.
 * A report that failed for a reason a retry can fix (no answer, 5xx, 429) is retried soon, with
 * jittered exponential backoff (full jitter from 1 s, doubling, capped at the report interval and
 * 30 s, after any Retry-After): a failure the instance saw must reach a rollout quickly.
 *
 * Lifecycle: `start()` arms the timer; `stop()` ends new reports (the one in flight goes on);
 * `finish(graceful)` then waits for the one in flight (at most ~2 s) and sends a last one (with
 * `leaving: true`, so the instance leaves the fleet at once), or
 * cuts it; `abort()` cuts everything short at any time (destroy).
 */
export class Reporter {
  readonly #options: ResolvedOptions;
  readonly #views: () => ReportedView[];
  readonly #status: (status: ClientStatus) => void;
  /** Aborted by abort(): cuts the final report short too. */
  readonly #hardStop = new AbortController();
  /** Aborted by abort(), or by finish() when the report in flight outlives its grace. */
  readonly #reportStop = new AbortController();
  #running = false;
  /** Whether the reporter was running when stop() came: only then is a last report due. */
  #ranUntilStop = false;
  #health: { status: HealthStatus; detail: string } = { status: 'ok', detail: '' };
  #timer: unknown;
  #reporting: Promise<void> | undefined;
  #again = false;
  readonly #retry: Backoff;
  /** Set while the latest report failed and should be retried: the delay before the retry. */
  #retryInMs: number | undefined;
  /** Flag evaluations counted since the last report that carried them, by namespace NUL flag NUL variant. */
  #evaluations = new Map<string, number>();
  /** Set when a report carrying evaluations was refused: an older server that does not know them. */
  #evaluationsRefused = false;

  constructor(deps: { options: ResolvedOptions; views: () => ReportedView[]; status: (status: ClientStatus) => void }) {
    this.#options = deps.options;
    this.#views = deps.views;
    this.#status = deps.status;
    this.#retry = new Backoff({ baseMs: retryBaseMs, capMs: Math.min(retryCapMs, deps.options.reportIntervalMs) });
  }

  start(): void {
    this.#running = true;
    this.#schedule();
  }

  /**
   * Counts evaluations of a flag's variant, sent with the next report. Bounded: past
   * `maxCountedEvaluations` distinct (namespace, flag, variant), new ones are not counted until a
   * report has carried the others.
   */
  countEvaluation(namespace: string, flag: string, variant: string, count = 1): void {
    if (this.#evaluationsRefused) return;
    // On every evaluation's path: a cheap key. Namespaces and keys hold no NUL; a variant may, so it goes last.
    const key = `${namespace}\u0000${flag}\u0000${variant}`;
    const held = this.#evaluations.get(key);
    if (held === undefined && this.#evaluations.size >= maxCountedEvaluations) return;
    this.#evaluations.set(key, Math.min(maxEvaluationCount, (held ?? 0) + count));
  }

  /** Sets the health sent with reports, and sends a report soon. */
  setHealth(status: HealthStatus, detail: string): void {
    if (status !== 'ok' && status !== 'degraded' && status !== 'failing')
      throw new HeraldClientError(
        'invalid_options',
        `health status must be ok, degraded or failing, not ${String(status)}`,
      );
    this.#health = { status, detail: String(detail).slice(0, maxReasonLength) };
    this.soon();
  }

  /** Sends a report now, or right after the one in flight (bursts coalesce into one). */
  soon(): void {
    if (!this.#running) return;
    if (this.#reporting) {
      this.#again = true;
      return;
    }
    this.#reporting = (async () => {
      try {
        do {
          this.#again = false;
          const outcome = await this.#send(reportTimeoutMs, this.#reportStop.signal);
          if (outcome.kind === 'retry') this.#retryInMs = this.#retry.next(outcome.retryAfterMs);
          else {
            this.#retryInMs = undefined;
            this.#retry.reset();
          }
        } while (this.#again && this.#running);
      } finally {
        this.#reporting = undefined;
        this.#schedule();
      }
    })();
  }

  /** No new reports from now on; the one in flight goes on until finish(). */
  stop(): void {
    this.#ranUntilStop = this.#running;
    this.#running = false;
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * After stop(). Graceful: a report in flight may finish (a request cut mid-way can leave the
   * server waiting for the rest of it), within a bound; then the last one says where we are.
   * Otherwise the one in flight is cut with `error`.
   */
  async finish(graceful: boolean, error: Error | undefined): Promise<void> {
    if (graceful && this.#ranUntilStop) {
      if (this.#reporting) {
        const grace = AbortSignal.timeout(closeReportTimeoutMs);
        await Promise.race([
          this.#reporting,
          new Promise((resolve) => grace.addEventListener('abort', resolve, { once: true })),
        ]);
        this.#reportStop.abort(new HeraldClientError('client_closed', 'the client is closed'));
        await this.#reporting;
      }
      // The last report says the instance is leaving: the server drops it from the fleet at once.
      await this.#send(closeReportTimeoutMs, this.#hardStop.signal, true);
    } else {
      this.#reportStop.abort(error ?? new HeraldClientError('client_closed', 'the client is closed'));
      await this.#reporting;
    }
  }

  /** Cuts the report in flight and any last report short (destroy). */
  abort(error: Error | undefined): void {
    this.#hardStop.abort(error);
    this.#reportStop.abort(error);
  }

  #schedule(): void {
    if (!this.#running) return;
    const clock = this.#options.clock;
    clock.clearTimeout(this.#timer);
    // ±10 %: a fleet started at once does not report in lockstep forever.
    const interval = this.#retryInMs ?? this.#options.reportIntervalMs * (0.9 + 0.2 * Math.random());
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.soon();
    }, interval);
  }

  #restore(key: string, count: number): void {
    const held = this.#evaluations.get(key);
    if (held === undefined && this.#evaluations.size >= maxCountedEvaluations) return;
    this.#evaluations.set(key, Math.min(maxEvaluationCount, (held ?? 0) + count));
  }

  /** One POST /v1/reports; failures become a status event, never an exception. */
  async #send(
    timeoutMs: number,
    stop: AbortSignal,
    leaving = false,
  ): Promise<{ kind: 'sent' | 'refused' } | { kind: 'retry'; retryAfterMs: number | undefined }> {
    // Taken out now, put back if the report does not go through: each evaluation is sent once.
    const counted = this.#evaluations;
    this.#evaluations = new Map();
    const evaluations = [...counted].map(([key, count]) => {
      const first = key.indexOf('\u0000');
      const second = key.indexOf('\u0000', first + 1);
      return {
        namespace: key.slice(0, first),
        flag: key.slice(first + 1, second),
        variant: key.slice(second + 1),
        count,
      };
    });
    const body = {
      instanceId: this.#options.instanceId,
      attributes: this.#options.attributes,
      views: this.#views(),
      health: this.#health,
      ...(evaluations.length > 0 ? { evaluations } : {}),
      ...(leaving ? { leaving: true } : {}),
    };
    let status: number | undefined;
    try {
      const response = await this.#options.fetch(endpoint(this.#options, 'v1/reports'), {
        method: 'POST',
        headers: requestHeaders(this.#options, { 'content-type': 'application/json', accept: 'application/json' }),
        body: JSON.stringify(body),
        signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]),
      });
      status = response.status;
      if (response.status >= 300)
        throw await problemFromResponse(response, 'the report was refused', this.#options.clock.now());
      // Read to the end, so the connection goes back to the pool in a clean state.
      await response.arrayBuffer();
      return { kind: 'sent' };
    } catch (error) {
      // A report cut short by close() is followed by the last report: nothing to say.
      if (stop.aborted && !this.#running) return { kind: 'refused' };
      const reported =
        error instanceof HeraldClientError
          ? error
          : new HeraldClientError('unreachable', `the report could not be sent: ${(error as Error).message}`, {
              cause: error,
            });
      this.#status({ type: 'report-failed', error: reported });
      if (evaluations.length > 0) {
        // A 400 of a report with counts is a server from before them: stop counting, so the reports themselves go through.
        // Counts taken while this report was in flight go too: the server would refuse them as well.
        if (status === 400) {
          this.#evaluationsRefused = true;
          this.#evaluations.clear();
        } else for (const [key, count] of counted) this.#restore(key, count);
      }
      // A refusal (bad token, bad report) will not change by retrying at once: the next periodic report will do.
      if (status !== undefined && status < 500 && status !== 429) return { kind: 'refused' };
      return { kind: 'retry', retryAfterMs: reported.retryAfterMs };
    }
  }
}
