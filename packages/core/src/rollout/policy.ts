/** A namespace's rollout policy: its document form, parsing with every problem named, and the canonical form it is stored in. */
import { checkDuration, formatDuration } from '../duration.js';
import { HeraldError, type Violation } from '../errors.js';
import { printable } from '../validation.js';
import { type HttpCheck, type MetricCheck, formatHttpCheck, formatMetricCheck, parseChecks } from './checks.js';
import { describe, isPlainObject, selectorKey, unknownKeys } from './helpers.js';
import type { RolloutState } from './machine.js';

/**
 * How a namespace's releases reach the fleet:
 * - `immediate`: every commit is released at once, to every instance;
 * - `manual`: only `herald release` makes a release, and it goes to every instance at once;
 * - `staged`: `herald release` starts a rollout through the waves, behind the gates.
 */
export type RolloutStrategy = 'immediate' | 'manual' | 'staged';

export const rolloutStrategies: readonly RolloutStrategy[] = ['immediate', 'manual', 'staged'];

/** Attribute name → allowed values. An instance matches when, for every attribute named, its value is one of those allowed. */
export type WaveMatch = Record<string, string[]>;

export interface RolloutWave {
  /** Unique within the policy; shown in status. */
  name: string;
  /** Share of the matching instances, in (0, 100], in steps of 0.01. */
  percent: number;
  /** How long the wave must run (not paused, not frozen) before it can pass. */
  bakeMs: number;
  /** Only instances with these attributes; absent means every instance. */
  match?: WaveMatch;
}

export interface RolloutGates {
  /** Share of the targeted instances that must have reported (applied or rejected) before the wave can pass. */
  minReportRatio: number;
  /** Rejected / targeted above this fails the wave, at any time. */
  maxRejectRatio: number;
  /** (Degraded or failing) / targeted above this fails the wave, at any time. */
  maxUnhealthyRatio: number;
  /** How long after a wave starts its reports must be in; absent means max(bake, 60s) for each wave. */
  reportDeadlineMs?: number;
  /**
   * How long the candidate may take to show a failure: an ok report received less than this after
   * the wave started does not count as healthy (it could not have seen the failure yet). Absent: 0.
   */
  failureDelayMs?: number;
  /** A wave targeting fewer instances than this holds (it does not fail, and it does not pass). */
  minInstances: number;
  /** Queries of the service's own metrics (Prometheus), judged during every wave's bake (checks.ts). */
  metrics?: MetricCheck[];
  /** URLs that answer pass or fail, judged the same way. */
  http?: HttpCheck[];
  /** The last wave bakes at least this long: a watch period with everyone on the candidate. */
  watchMs?: number;
}

export interface StagedRolloutPolicy {
  strategy: 'staged';
  /** At least one; the last is 100 % with no match, so a finished rollout covers everyone. */
  waves: RolloutWave[];
  gates: RolloutGates;
  /** On a failed gate: true rolls back at once; false pauses the rollout with the reason. */
  autoRollback: boolean;
}

/** A policy with no waves: the release goes to every instance at once. */
export interface DirectRolloutPolicy {
  strategy: 'immediate' | 'manual';
}

export type RolloutPolicy = StagedRolloutPolicy | DirectRolloutPolicy;

/** The policy as written in a file and printed by `herald policy get`: durations as strings. */
export interface RolloutPolicyDocument {
  strategy: RolloutStrategy;
  waves?: Array<{ name: string; percent: number; bake: string; match?: WaveMatch }>;
  gates?: {
    minReportRatio: number;
    maxRejectRatio: number;
    maxUnhealthyRatio: number;
    reportDeadline?: string;
    failureDelay?: string;
    minInstances: number;
    metrics?: Array<Record<string, unknown>>;
    http?: Array<Record<string, unknown>>;
    watch?: string;
  };
  autoRollback?: boolean;
}

/** A new namespace's policy (the CLI contract: `herald ns create` gives `immediate`). */
export const defaultRolloutPolicy: DirectRolloutPolicy = Object.freeze({ strategy: 'immediate' });

/** The waves of a staged policy that names none: 1 % → 10 % → 50 % → 100 %, baking 5m/10m/10m/0s. */
export const defaultWaves: readonly RolloutWave[] = Object.freeze([
  Object.freeze({ name: 'canary', percent: 1, bakeMs: 5 * 60_000 }),
  Object.freeze({ name: 'early', percent: 10, bakeMs: 10 * 60_000 }),
  Object.freeze({ name: 'half', percent: 50, bakeMs: 10 * 60_000 }),
  Object.freeze({ name: 'everyone', percent: 100, bakeMs: 0 }),
]);

export const defaultGates: Readonly<RolloutGates> = Object.freeze({
  minReportRatio: 0.8,
  maxRejectRatio: 0,
  maxUnhealthyRatio: 0.05,
  minInstances: 1,
});

/** When no `reportDeadline` is set, a wave's reports must be in by max(its bake, this). */
export const minimumReportDeadlineMs = 60_000;

const limits = {
  waves: 20,
  matchAttributes: 16,
  matchValues: 100,
  attributeLength: 64,
  valueLength: 256,
  minInstances: 1_000_000,
};
const waveNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u;
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/u;

/**
 * Validates a policy as read from JSON or YAML and returns it with defaults filled in. Every
 * problem is collected, each with its path (`waves[1].percent`, `gates.maxRejectRatio`), and
 * thrown together as `invalid_policy` (400) with `violations`. Unknown fields are problems too:
 * a misspelt gate must not be silently ignored.
 *
 * Rules beyond the field types: wave names are unique; among waves with the same selector
 * (the same `match`, or none) percents never decrease (waves with different selectors may differ,
 * e.g. all of westus, then 10 % of everyone); the last wave is 100 % with no `match`. Only a
 * staged policy has `waves`, `gates` and `autoRollback`.
 */
export function parsePolicy(input: unknown): RolloutPolicy {
  const problems: Violation[] = [];
  const problem = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  const policy = parseInto(input, problem);
  if (problems.length > 0 || policy === undefined) {
    const shown = problems
      .slice(0, 10)
      .map((p) => `${p.path}: ${p.message}`)
      .join('; ');
    throw new HeraldError(
      'invalid_policy',
      `the rollout policy is not valid (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${shown}`,
      {
        extensions: { violations: problems.slice(0, 100) },
      },
    );
  }
  return policy;
}

function parseInto(input: unknown, problem: (path: string, message: string) => void): RolloutPolicy | undefined {
  if (!isPlainObject(input)) {
    problem('(policy)', `must be an object with a "strategy"; got ${describe(input)}`);
    return undefined;
  }
  unknownKeys(input, ['strategy', 'waves', 'gates', 'autoRollback'], '', problem);
  const strategy = input.strategy;
  if (strategy === undefined) {
    problem('strategy', `is required: one of ${rolloutStrategies.join(', ')}`);
    return undefined;
  }
  if (typeof strategy !== 'string' || !(rolloutStrategies as readonly string[]).includes(strategy)) {
    problem(
      'strategy',
      `must be one of ${rolloutStrategies.join(', ')}; got ${typeof strategy === 'string' ? `"${printable(strategy.slice(0, 40))}"` : describe(strategy)}`,
    );
    return undefined;
  }
  if (strategy !== 'staged') {
    for (const field of ['waves', 'gates', 'autoRollback'] as const) {
      if (input[field] !== undefined)
        problem(
          field,
          `only a staged policy has ${field}; strategy ${strategy} sends each release to every instance at once`,
        );
    }
    return { strategy: strategy as 'immediate' | 'manual' };
  }
  const waves =
    input.waves === undefined ? defaultWaves.map((wave) => ({ ...wave })) : parseWaves(input.waves, problem);
  const gates = parseGates(input.gates, problem);
  let autoRollback = true;
  if (input.autoRollback !== undefined) {
    if (typeof input.autoRollback === 'boolean') autoRollback = input.autoRollback;
    else problem('autoRollback', `must be true or false; got ${describe(input.autoRollback)}`);
  }
  return { strategy: 'staged', waves, gates, autoRollback };
}

function parseWaves(input: unknown, problem: (path: string, message: string) => void): RolloutWave[] {
  if (!Array.isArray(input)) {
    problem(
      'waves',
      `must be a list of waves (leave it out for the default 1 % → 10 % → 50 % → 100 %); got ${describe(input)}`,
    );
    return [];
  }
  if (input.length === 0) {
    problem('waves', 'must have at least one wave (leave it out for the default 1 % → 10 % → 50 % → 100 %)');
    return [];
  }
  input = expandEach(input, problem);
  if (!Array.isArray(input)) return [];
  if (input.length > limits.waves) problem('waves', `has ${input.length} waves; the limit is ${limits.waves}`);
  const waves: RolloutWave[] = [];
  const names = new Map<string, number>();
  // The highest percent so far per selector, to check that a selector's share never shrinks.
  const highest = new Map<string, { percent: number; index: number }>();
  input.slice(0, limits.waves).forEach((raw: unknown, index) => {
    const path = `waves[${index}]`;
    if (!isPlainObject(raw)) {
      problem(path, `must be an object with name, percent and bake; got ${describe(raw)}`);
      return;
    }
    unknownKeys(raw, ['name', 'percent', 'bake', 'match'], `${path}.`, problem);
    let name = `wave-${index + 1}`;
    if (typeof raw.name !== 'string')
      problem(`${path}.name`, raw.name === undefined ? 'is required' : `must be a string; got ${describe(raw.name)}`);
    else if (!waveNamePattern.test(raw.name))
      problem(
        `${path}.name`,
        `"${printable(raw.name.slice(0, 70))}" must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit`,
      );
    else {
      name = raw.name;
      const earlier = names.get(name);
      if (earlier !== undefined) problem(`${path}.name`, `"${name}" is already the name of waves[${earlier}]`);
      else names.set(name, index);
    }
    let percent = 100;
    if (raw.percent === undefined)
      problem(`${path}.percent`, 'is required: the share of the matching instances, more than 0 and at most 100');
    else if (typeof raw.percent !== 'number' || !Number.isFinite(raw.percent))
      problem(`${path}.percent`, `must be a number; got ${describe(raw.percent)}`);
    else if (raw.percent <= 0 || raw.percent > 100)
      problem(`${path}.percent`, `must be more than 0 and at most 100; got ${raw.percent}`);
    else if (Math.abs(raw.percent * 100 - Math.round(raw.percent * 100)) > 1e-9)
      problem(`${path}.percent`, `must be a multiple of 0.01 (instances fall into 10000 buckets); got ${raw.percent}`);
    else percent = raw.percent;
    let bakeMs = 0;
    if (raw.bake === undefined)
      problem(`${path}.bake`, 'is required: how long the wave runs before it can pass, e.g. "30s" or "0s"');
    else {
      const bake = checkDuration(raw.bake);
      if (bake.problem !== undefined) problem(`${path}.bake`, bake.problem);
      else bakeMs = bake.ms;
    }
    const match = raw.match === undefined ? undefined : parseMatch(raw.match, `${path}.match`, problem);
    const wave: RolloutWave = { name, percent, bakeMs };
    if (match !== undefined && Object.keys(match).length > 0) wave.match = match;
    waves.push(wave);
    if (typeof raw.percent === 'number' && percent === raw.percent) {
      const selector = selectorKey(wave.match);
      const before = highest.get(selector);
      if (before !== undefined && percent < before.percent) {
        problem(
          `${path}.percent`,
          `${percent} is less than the ${before.percent} of waves[${before.index}], which selects the same instances; a later wave must not shrink an earlier one`,
        );
      } else highest.set(selector, { percent, index });
    }
  });
  // Checked only when every wave was read (an unreadable last wave has its own problems already).
  const last = waves.at(-1);
  if (last !== undefined && waves.length === input.length) {
    const path = `waves[${waves.length - 1}]`;
    if (last.percent !== 100) {
      problem(
        `${path}.percent`,
        `the last wave must be 100 (got ${last.percent}), so that a finished rollout covers every instance`,
      );
    }
    if (last.match !== undefined)
      problem(`${path}.match`, 'the last wave must have no match, so that a finished rollout covers every instance');
  }
  return waves;
}

/**
 * Wave templates: a wave with `each: { region: [westus, eastus, northeu] }` stands for one wave per
 * value, in that order, named `<name>-<value>` and matching that value (on top of its own match),
 * so a policy takes the fleet one region (or any attribute) at a time with its own bake and gates
 * per region. The stored policy holds the waves it expands to, so status and history show them.
 */
function expandEach(input: unknown[], problem: (path: string, message: string) => void): unknown[] {
  const out: unknown[] = [];
  input.forEach((raw: unknown, index) => {
    // Past the limit the rest are not looked at: one more than allowed says "too many".
    if (out.length > limits.waves) return;
    if (!isPlainObject(raw) || raw.each === undefined) {
      out.push(raw);
      return;
    }
    const path = `waves[${index}].each`;
    const { each, ...wave } = raw;
    const entries = isPlainObject(each) ? Object.entries(each) : [];
    const [attribute, values] = entries[0] ?? [];
    if (
      entries.length !== 1 ||
      attribute === undefined ||
      !Array.isArray(values) ||
      values.length === 0 ||
      !values.every((v) => typeof v === 'string')
    ) {
      problem(
        path,
        `must name one attribute and its values in order, e.g. { region: [westus, eastus] }; got ${describe(each)}`,
      );
      return;
    }
    const own = isPlainObject(wave.match) ? wave.match : {};
    for (const value of values.slice(0, limits.waves + 1))
      out.push({
        ...wave,
        name: typeof wave.name === 'string' ? `${wave.name}-${value}` : wave.name,
        match: { ...own, [attribute]: [value] },
      });
  });
  return out;
}

function parseMatch(
  input: unknown,
  path: string,
  problem: (path: string, message: string) => void,
): WaveMatch | undefined {
  if (!isPlainObject(input)) {
    problem(path, `must be an object of attribute → allowed values, e.g. { region: [westus] }; got ${describe(input)}`);
    return undefined;
  }
  const entries = Object.entries(input);
  if (entries.length > limits.matchAttributes)
    problem(path, `names ${entries.length} attributes; the limit is ${limits.matchAttributes}`);
  // Built from entries, not by assignment: an attribute called "__proto__" must stay an attribute.
  const match: Array<[string, string[]]> = [];
  for (const [attribute, raw] of entries.slice(0, limits.matchAttributes)) {
    const at = `${path}.${printable(attribute.slice(0, limits.attributeLength))}`;
    if (attribute.length === 0 || attribute.length > limits.attributeLength || controlCharacters.test(attribute)) {
      problem(at, `attribute names are 1-${limits.attributeLength} characters with no control characters`);
      continue;
    }
    const values = typeof raw === 'string' ? [raw] : raw;
    if (!Array.isArray(values) || values.length === 0) {
      problem(
        at,
        `must be a value or a non-empty list of values; got ${Array.isArray(values) ? 'an empty list' : describe(raw)}`,
      );
      continue;
    }
    if (values.length > limits.matchValues)
      problem(at, `lists ${values.length} values; the limit is ${limits.matchValues}`);
    const allowed: string[] = [];
    values.slice(0, limits.matchValues).forEach((value: unknown, i) => {
      if (typeof value !== 'string') problem(`${at}[${i}]`, `must be a string; got ${describe(value)}`);
      else if (value.length > limits.valueLength || controlCharacters.test(value))
        problem(`${at}[${i}]`, `values are at most ${limits.valueLength} characters with no control characters`);
      else if (!allowed.includes(value)) allowed.push(value);
    });
    match.push([attribute, allowed]);
  }
  return Object.fromEntries(match);
}

function parseGates(input: unknown, problem: (path: string, message: string) => void): RolloutGates {
  const gates: RolloutGates = { ...defaultGates };
  if (input === undefined) return gates;
  if (!isPlainObject(input)) {
    problem('gates', `must be an object; got ${describe(input)}`);
    return gates;
  }
  unknownKeys(
    input,
    [
      'minReportRatio',
      'maxRejectRatio',
      'maxUnhealthyRatio',
      'reportDeadline',
      'failureDelay',
      'minInstances',
      'metrics',
      'http',
      'watch',
    ],
    'gates.',
    problem,
  );
  const checks = parseChecks(input, problem);
  if (checks.metrics.length > 0) gates.metrics = checks.metrics;
  if (checks.http.length > 0) gates.http = checks.http;
  if (input.watch !== undefined) {
    const watch = checkDuration(input.watch);
    if (watch.problem !== undefined) problem('gates.watch', watch.problem);
    else if (watch.ms > 0) gates.watchMs = watch.ms;
  }
  for (const name of ['minReportRatio', 'maxRejectRatio', 'maxUnhealthyRatio'] as const) {
    const value = input[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
      problem(
        `gates.${name}`,
        `must be a ratio from 0 to 1 (e.g. 0.05 for 5 %); got ${typeof value === 'number' ? value : describe(value)}`,
      );
    } else gates[name] = value;
  }
  if (input.reportDeadline !== undefined) {
    const deadline = checkDuration(input.reportDeadline);
    if (deadline.problem !== undefined) problem('gates.reportDeadline', deadline.problem);
    else if (deadline.ms === 0) problem('gates.reportDeadline', 'must be more than 0: reports take time to arrive');
    else gates.reportDeadlineMs = deadline.ms;
  }
  if (input.failureDelay !== undefined) {
    const delay = checkDuration(input.failureDelay);
    if (delay.problem !== undefined) problem('gates.failureDelay', delay.problem);
    else gates.failureDelayMs = delay.ms;
  }
  if (input.minInstances !== undefined) {
    const value = input.minInstances;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > limits.minInstances) {
      problem(
        'gates.minInstances',
        `must be a whole number from 0 to ${limits.minInstances}; got ${typeof value === 'number' ? value : describe(value)}`,
      );
    } else gates.minInstances = value;
  }
  return gates;
}

/** The canonical document of a policy (every default spelt out, durations as strings), for `herald policy get` and for storing. parsePolicy reads it back to an equal policy. */
export function formatPolicy(policy: RolloutPolicy): RolloutPolicyDocument {
  if (policy.strategy !== 'staged') return { strategy: policy.strategy };
  const {
    minReportRatio,
    maxRejectRatio,
    maxUnhealthyRatio,
    reportDeadlineMs,
    failureDelayMs,
    minInstances,
    metrics,
    http,
    watchMs,
  } = policy.gates;
  const gates: NonNullable<RolloutPolicyDocument['gates']> = {
    minReportRatio,
    maxRejectRatio,
    maxUnhealthyRatio,
    ...(reportDeadlineMs === undefined ? {} : { reportDeadline: formatDuration(reportDeadlineMs) }),
    ...(failureDelayMs === undefined ? {} : { failureDelay: formatDuration(failureDelayMs) }),
    minInstances,
    ...(metrics === undefined ? {} : { metrics: metrics.map(formatMetricCheck) }),
    ...(http === undefined ? {} : { http: http.map(formatHttpCheck) }),
    ...(watchMs === undefined ? {} : { watch: formatDuration(watchMs) }),
  };
  return {
    strategy: 'staged',
    waves: policy.waves.map((wave) => {
      const out: { name: string; percent: number; bake: string; match?: WaveMatch } = {
        name: wave.name,
        percent: wave.percent,
        bake: formatDuration(wave.bakeMs),
      };
      if (wave.match !== undefined)
        out.match = Object.fromEntries(Object.entries(wave.match).map(([k, v]) => [k, [...v]]));
      return out;
    }),
    gates,
    autoRollback: policy.autoRollback,
  };
}

/**
 * When the current wave's reports must be in: its report deadline after the wave started, or
 * after `observedSince` when the controller began observing later (see EvaluateOptions).
 */
export function reportDeadlineAtOf(
  state: RolloutState,
  policy: StagedRolloutPolicy,
  waveIndex: number,
  observedSince?: number,
): number {
  return Math.max(state.waveStartedAt, state.resumedAt ?? 0, observedSince ?? 0) + reportDeadlineOf(policy, waveIndex);
}

/** How long after the start of wave `waveIndex` its reports must be in. */
export function reportDeadlineOf(policy: StagedRolloutPolicy, waveIndex: number): number {
  return policy.gates.reportDeadlineMs ?? Math.max(bakeMsOf(policy, waveIndex), minimumReportDeadlineMs);
}

/** How long wave `waveIndex` bakes: its own bake, and for the last wave at least `gates.watch`. */
export function bakeMsOf(policy: StagedRolloutPolicy, waveIndex: number): number {
  const index = Math.min(Math.max(waveIndex, 0), policy.waves.length - 1);
  const bake = policy.waves[index]?.bakeMs ?? 0;
  return index === policy.waves.length - 1 ? Math.max(bake, policy.gates.watchMs ?? 0) : bake;
}
