import {
  renderQuery,
  renderUrl,
  type CheckContext,
  type CheckObservation,
  type CheckSample,
  type Clock,
  type HttpCheck,
  type MetricCheck,
  type RolloutPolicy,
} from '@herald/core';
import { probeUrl, queryPrometheus, type ProbeResult } from './gate-probes.js';

/** Samples kept per check and wave: the first ones (the wave's start) and the latest. */
const maxSamples = 60;

interface Sampled {
  observation: CheckObservation;
  lastAt: number;
}

/**
 * Takes the samples of a rollout's metric and HTTP checks (gates.metrics, gates.http) on the
 * leader, each at its interval by the injected clock, and keeps them in memory per rollout, wave
 * and observation window: a new wave, a new window (a restart, a new leader) starts afresh, as the
 * bake does. The machine judges them (checks.ts in the core); the rollout service persists those
 * a rollout ended on.
 */
export class GateChecks {
  readonly #clock: Clock;
  readonly #prometheusUrl: string | null;
  readonly #queryTimeoutMs: number;
  readonly #runs = new Map<string, { key: string; checks: Map<string, Sampled> }>();

  constructor(deps: { clock: Clock; prometheusUrl: string | null; queryTimeoutMs?: number }) {
    this.#clock = deps.clock;
    this.#prometheusUrl = deps.prometheusUrl;
    this.#queryTimeoutMs = deps.queryTimeoutMs ?? 5000;
  }

  /** Whether the policy has checks at all (no work for the others). */
  static has(policy: RolloutPolicy): boolean {
    return (
      policy.strategy === 'staged' && ((policy.gates.metrics?.length ?? 0) > 0 || (policy.gates.http?.length ?? 0) > 0)
    );
  }

  /** Takes the samples that are due and answers every check's samples in this wave and window. */
  async sample(policy: RolloutPolicy, context: CheckContext, since: number): Promise<CheckObservation[]> {
    if (policy.strategy !== 'staged') return [];
    const run = this.#run(context, since);
    const due: Array<Promise<void>> = [];
    const now = this.#clock.now();
    for (const check of policy.gates.metrics ?? [])
      due.push(this.#sampleOne(run.checks, 'metric', check, renderQuery(check.query, context), now));
    for (const check of policy.gates.http ?? [])
      due.push(this.#sampleOne(run.checks, 'http', check, renderUrl(check.url, context), now));
    await Promise.all(due);
    return [...run.checks.values()].map((s) => s.observation);
  }

  /** What was sampled for the rollout's current wave and window, without sampling (status on this node). */
  observed(context: Pick<CheckContext, 'rolloutId' | 'waveIndex'>, since: number | undefined): CheckObservation[] {
    const run = this.#runs.get(context.rolloutId);
    if (!run || since === undefined || run.key !== `${context.waveIndex}:${since}`) return [];
    return [...run.checks.values()].map((s) => s.observation);
  }

  /** Forgets a rollout that ended. */
  forget(rolloutId: string): void {
    this.#runs.delete(rolloutId);
  }

  #run(context: CheckContext, since: number): { key: string; checks: Map<string, Sampled> } {
    const key = `${context.waveIndex}:${since}`;
    let run = this.#runs.get(context.rolloutId);
    if (!run || run.key !== key) {
      run = { key, checks: new Map() };
      this.#runs.set(context.rolloutId, run);
    }
    return run;
  }

  async #sampleOne(
    checks: Map<string, Sampled>,
    kind: 'metric' | 'http',
    check: MetricCheck | HttpCheck,
    target: string,
    now: number,
  ): Promise<void> {
    const id = `${kind}:${check.name}`;
    let sampled = checks.get(id);
    if (sampled && now - sampled.lastAt < check.intervalMs) return;
    if (!sampled) {
      sampled = { observation: { name: check.name, kind, target, samples: [] }, lastAt: now };
      checks.set(id, sampled);
    }
    sampled.lastAt = now;
    sampled.observation.target = target;
    const result = await this.#probe(kind, check, target);
    const sample: CheckSample = {
      at: now,
      value: worstOf(kind === 'metric' ? (check as MetricCheck) : undefined, result.values),
    };
    if (result.pass !== undefined) sample.pass = result.pass;
    if (result.error !== undefined) sample.error = result.error;
    const samples = sampled.observation.samples;
    samples.push(sample);
    // The first samples say how the wave began; the latest what it is now.
    if (samples.length > maxSamples) samples.splice(10, samples.length - maxSamples);
  }

  #probe(kind: 'metric' | 'http', check: MetricCheck | HttpCheck, target: string): Promise<ProbeResult> {
    if (kind === 'http') return probeUrl(target, (check as HttpCheck).timeoutMs);
    if (this.#prometheusUrl === null)
      return Promise.resolve({
        values: [],
        error: 'no Prometheus server is configured (herald server --prometheus-url URL)',
      });
    return queryPrometheus(this.#prometheusUrl, target, this.#queryTimeoutMs);
  }
}

/** Of several series, the one that matters most: the highest against a max, the lowest against a min only. */
function worstOf(check: MetricCheck | undefined, values: number[]): number | null {
  if (values.length === 0) return null;
  if (check && check.max === undefined && check.min !== undefined) return Math.min(...values);
  if (check && check.max !== undefined && check.min !== undefined) {
    const low = Math.min(...values);
    if (low < check.min) return low;
  }
  return Math.max(...values);
}
