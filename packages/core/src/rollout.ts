/**
 * Staged rollouts: the policy a namespace gives its releases, the deterministic choice of which
 * instances are in which wave, and the state machine that moves a namespace from its stable
 * release to a candidate wave by wave. Everything here is pure: time is the `now` argument
 * (milliseconds), state is plain JSON the caller persists, and nothing is read or written.
 *
 * The controller that drives it (in the server) loops: gather the observation of the current
 * wave, call `evaluate`, persist the state when the decision is not `hold`, act on the decision
 * (on `fail` with rollback, publish the stable content as a new release; on `succeed`, make the
 * candidate stable), and audit the history entry the transition appended.
 */
import { createHash } from 'node:crypto';
import { checkDuration, formatDuration } from './duration.js';
import { HeraldError, type Violation } from './errors.js';
import { printable } from './validation.js';

// --- the policy ---------------------------------------------------------------------------------

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
    ['minReportRatio', 'maxRejectRatio', 'maxUnhealthyRatio', 'reportDeadline', 'failureDelay', 'minInstances'],
    'gates.',
    problem,
  );
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
  const { minReportRatio, maxRejectRatio, maxUnhealthyRatio, reportDeadlineMs, failureDelayMs, minInstances } =
    policy.gates;
  const gates: NonNullable<RolloutPolicyDocument['gates']> = {
    minReportRatio,
    maxRejectRatio,
    maxUnhealthyRatio,
    ...(reportDeadlineMs === undefined ? {} : { reportDeadline: formatDuration(reportDeadlineMs) }),
    ...(failureDelayMs === undefined ? {} : { failureDelay: formatDuration(failureDelayMs) }),
    minInstances,
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
  return Math.max(state.waveStartedAt, observedSince ?? 0) + reportDeadlineOf(policy, waveIndex);
}

/** How long after the start of wave `waveIndex` its reports must be in. */
export function reportDeadlineOf(policy: StagedRolloutPolicy, waveIndex: number): number {
  const wave = policy.waves[Math.min(Math.max(waveIndex, 0), policy.waves.length - 1)];
  return policy.gates.reportDeadlineMs ?? Math.max(wave?.bakeMs ?? 0, minimumReportDeadlineMs);
}

// --- bucketing ----------------------------------------------------------------------------------

/** Instances fall into this many buckets; a wave of p % takes buckets [0, p × 100). */
export const bucketCount = 10_000;

/** An instance as a wave selector sees it. */
export interface RolloutInstance {
  instanceId: string;
  attributes: Readonly<Record<string, string>>;
}

/**
 * The instance's bucket for this rollout, in [0, 10000): the first 6 bytes of
 * SHA-256(UTF-8 of `rolloutId + "\0" + instanceId`) as a big-endian unsigned integer, modulo
 * 10000. Any party (node, relay, another language) computes the same bucket; the rollout id in
 * the hash means a new rollout draws a fresh 1 %, so the same instances are not always the canaries.
 */
export function bucketOf(rolloutId: string, instanceId: string): number {
  const digest = createHash('sha256').update(`${rolloutId}\0${instanceId}`, 'utf8').digest();
  // 2^48 is not a multiple of 10000, but the bias it leaves is below 4e-11: nothing to correct.
  return digest.readUIntBE(0, 6) % bucketCount;
}

/** Whether the instance's attributes satisfy a wave's match (absent or empty: everyone does). */
export function matchesWave(match: WaveMatch | undefined, attributes: Readonly<Record<string, string>>): boolean {
  if (match === undefined) return true;
  for (const [attribute, allowed] of Object.entries(match)) {
    const value = Object.hasOwn(attributes, attribute) ? attributes[attribute] : undefined;
    if (value === undefined || !allowed.includes(value)) return false;
  }
  return true;
}

/**
 * The first wave that selects the instance, or undefined when none does (which cannot happen
 * with a valid staged policy, whose last wave is everyone). Not staged: 0, everyone at once.
 */
export function firstWaveOf(policy: RolloutPolicy, rolloutId: string, instance: RolloutInstance): number | undefined {
  if (policy.strategy !== 'staged') return 0;
  let bucket: number | undefined;
  for (const [index, wave] of policy.waves.entries()) {
    if (!matchesWave(wave.match, instance.attributes)) continue;
    bucket ??= bucketOf(rolloutId, instance.instanceId);
    if (bucket < Math.round(wave.percent * 100)) return index;
  }
  return undefined;
}

/**
 * Whether wave `waveIndex` of the rollout targets the instance: true when some wave j ≤ waveIndex
 * matches its attributes and its bucket is below percent_j × 100. So an instance in an earlier
 * wave stays in every later one. A policy that is not staged targets everyone.
 */
export function isTargeted(
  policy: RolloutPolicy,
  waveIndex: number,
  rolloutId: string,
  instance: RolloutInstance,
): boolean {
  if (waveIndex < 0) return false;
  const first = firstWaveOf(policy, rolloutId, instance);
  return first !== undefined && first <= waveIndex;
}

// --- the state machine --------------------------------------------------------------------------

export type RolloutStateName = 'running' | 'paused' | 'frozen' | 'succeeded' | 'rolled_back' | 'aborted';

export const rolloutStateNames: readonly RolloutStateName[] = [
  'running',
  'paused',
  'frozen',
  'succeeded',
  'rolled_back',
  'aborted',
];

export interface RolloutHistoryEntry {
  at: number;
  /** The state before, or `none` for the start. */
  from: string;
  to: string;
  /** The wave after the transition. An advance is `running` → `running` with the new wave. */
  wave: number;
  /** Who: a token's principal, or `controller` for the automatic transitions. */
  actor: string;
  reason: string;
}

/**
 * A rollout, as plain JSON: persist it on every transition, load it after a restart, and the
 * rollout carries on where it was.
 *
 * Bake accounting: `bakedMs` is the bake time credited to the current wave up to `updatedAt`.
 * While `running`, time after `updatedAt` counts too, but only from when the controller began
 * observing the rollout without a gap (`observedSince`, see rollout-observation.ts); while
 * `paused` or `frozen` it does not. So time the controller did not observe (it was down, or was
 * not the leader, or could not read the reports) is never bake: a failure the instances reported
 * meanwhile may have been lost, and the bake must see one if there is one.
 */
export interface RolloutState {
  id: string;
  namespace: string;
  /** The stable release the rollout moves away from (0: there was none). */
  fromSeq: number;
  /** The candidate release. */
  toSeq: number;
  state: RolloutStateName;
  /** Index of the current wave. */
  wave: number;
  waveStartedAt: number;
  startedAt: number;
  updatedAt: number;
  /** When it was paused or frozen; absent otherwise. */
  pausedAt?: number;
  /** While frozen: the state `unfreeze` returns to. */
  frozenFrom?: 'running' | 'paused';
  bakedMs: number;
  /** Why it stopped, paused or rolled back, in words; absent while it runs. */
  reason?: string;
  /** Every transition, oldest first (the first entry and the newest 199 are kept). */
  history: RolloutHistoryEntry[];
}

/** Counts among the instances the current wave targets, for the candidate release. */
export interface WaveObservation {
  targeted: number;
  /** Targeted instances that reported the candidate applied or rejected. */
  reported: number;
  applied: number;
  rejected: number;
  /** Targeted instances whose health is degraded or failing. */
  unhealthy: number;
}

export type RolloutGateName = 'minInstances' | 'minReportRatio' | 'maxRejectRatio' | 'maxUnhealthyRatio';

export type HoldReason =
  | 'baking' // the bake time has not elapsed (bakeRemainingMs says how much is left)
  | 'waiting_for_reports' // baked, but fewer than minReportRatio have reported; the deadline has not passed
  | 'too_few_instances' // the wave targets fewer than minInstances instances
  | 'paused'
  | 'frozen'
  | 'finished'; // succeeded, rolled back or aborted: nothing more to do

export type RolloutDecision =
  | {
      kind: 'hold';
      why: HoldReason;
      wave: number;
      message: string;
      bakeRemainingMs: number;
      /** When something will change even if no report arrives (bake over, deadline reached); absent when only a report can change it. */
      recheckInMs?: number;
    }
  | { kind: 'advance'; from: number; to: number; wave: number; message: string }
  | { kind: 'succeed'; wave: number; message: string }
  | {
      kind: 'fail';
      gate: Exclude<RolloutGateName, 'minInstances'>;
      wave: number;
      value: number;
      threshold: number;
      /** true: the state is now `rolled_back` (publish the stable content); false: it is `paused`. */
      rolledBack: boolean;
      message: string;
    };

/** The actor of the transitions `evaluate` makes on its own. */
export const controllerActor = 'controller';

const maxHistory = 200;

export interface StartRolloutInput {
  id: string;
  namespace: string;
  fromSeq: number;
  toSeq: number;
  now: number;
  actor: string;
  reason?: string;
}

/** A new rollout, running its first wave from `now`. */
export function startRollout(input: StartRolloutInput): RolloutState {
  const { id, namespace, fromSeq, toSeq, now, actor } = input;
  checkNow(now);
  if (typeof id !== 'string' || id.length === 0) throw new RangeError('a rollout needs a non-empty id');
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0)
    throw new RangeError(`fromSeq must be a whole number ≥ 0, not ${fromSeq}`);
  if (!Number.isSafeInteger(toSeq) || toSeq <= fromSeq)
    throw new RangeError(`toSeq must be a whole number above fromSeq (${fromSeq}), not ${toSeq}`);
  return {
    id,
    namespace,
    fromSeq,
    toSeq,
    state: 'running',
    wave: 0,
    waveStartedAt: now,
    startedAt: now,
    updatedAt: now,
    bakedMs: 0,
    history: [
      {
        at: now,
        from: 'none',
        to: 'running',
        wave: 0,
        actor,
        reason: input.reason ?? `roll out release ${toSeq} (stable: ${fromSeq})`,
      },
    ],
  };
}

/** Running, paused or frozen: the rollout still owns its namespace (one at a time). */
export function isActiveRollout(state: Pick<RolloutState, 'state'>): boolean {
  return state.state === 'running' || state.state === 'paused' || state.state === 'frozen';
}

/**
 * Bake time the current wave has accumulated by `now`, counting running time after `updatedAt`
 * only from `observedSince` on (absent: all of it, for a status shown without a controller).
 */
export function bakedMsAt(state: RolloutState, now: number, observedSince?: number): number {
  if (state.state !== 'running') return state.bakedMs;
  const from = Math.max(state.updatedAt, observedSince ?? state.updatedAt);
  return state.bakedMs + Math.max(0, now - from);
}

/** What the controller passes to `evaluate` about its own observation of the rollout. */
export interface EvaluateOptions {
  /**
   * Since when the controller has observed the rollout without a gap (observeAgain in
   * rollout-observation.ts). Running time before it is not bake, and the report deadline of the
   * current wave runs from it when it is later than the wave's start (reports from before it do
   * not count as healthy, so the instances get a full deadline to report again). Absent: the
   * wave's whole running time was observed.
   */
  observedSince?: number | undefined;
}

/**
 * Decides what the rollout does now, given what the current wave's instances reported. Pure: a
 * `hold` returns the very same state object (nothing to persist); any other decision returns a
 * new state with a history entry by `controller`.
 *
 * Pass the policy the rollout started with (store it with the state): a wave index means nothing
 * under another policy. Rules, in order:
 * 1. frozen, succeeded, rolled back, aborted: hold.
 * 2. Not staged: succeed at once.
 * 3. Reject and unhealthy ratios are checked at any time, paused too (a pause stops progress, not
 *    safety): above its threshold, the wave fails. With autoRollback the rollout is rolled back;
 *    without, it pauses with the reason (a paused one stays paused).
 * 4. Paused: hold.
 * 5. Fewer targeted instances than minInstances: hold, without a deadline (abort or change the
 *    policy if the fleet is too small for the wave).
 * 6. Fewer reports than minReportRatio: hold until the report deadline (wall time from the wave's
 *    start, or from `observedSince` when later; pauses included), then fail: a missing signal is a
 *    failing signal. The observation counts as reported only what countWave counts: no stale ok.
 * 7. Bake not elapsed (paused, frozen and unobserved time do not count): hold.
 * 8. Otherwise the wave passes: advance to the next one, or after the last, succeed.
 */
export function evaluate(
  state: RolloutState,
  policy: RolloutPolicy,
  observation: WaveObservation,
  now: number,
  options: EvaluateOptions = {},
): { state: RolloutState; decision: RolloutDecision } {
  checkNow(now);
  checkObservation(observation);
  const { observedSince } = options;
  if (observedSince !== undefined) checkNow(observedSince);
  const seen = observedSince === undefined ? {} : { observedSince };
  const hold = (
    why: HoldReason,
    message: string,
    bakeRemainingMs = 0,
    recheckInMs?: number,
  ): { state: RolloutState; decision: RolloutDecision } => {
    const decision: RolloutDecision = { kind: 'hold', why, wave: state.wave, message, bakeRemainingMs };
    if (recheckInMs !== undefined) decision.recheckInMs = recheckInMs;
    return { state, decision };
  };
  if (state.state === 'frozen') return hold('frozen', 'frozen: nothing moves until unfreeze');
  if (!isActiveRollout(state))
    return hold(
      'finished',
      `the rollout has ${state.state === 'succeeded' ? 'succeeded' : state.state === 'aborted' ? 'been aborted' : 'been rolled back'}`,
    );
  if (policy.strategy !== 'staged') {
    if (state.state === 'paused') return hold('paused', `paused${state.reason ? `: ${state.reason}` : ''}`);
    const message = `strategy ${policy.strategy}: release ${state.toSeq} goes to every instance at once`;
    return {
      state: transition(state, now, 'succeeded', controllerActor, message, { reason: message }),
      decision: { kind: 'succeed', wave: state.wave, message },
    };
  }
  const index = Math.min(state.wave, policy.waves.length - 1);
  const wave = policy.waves[index] as RolloutWave;
  const { gates } = policy;
  const o = observation;
  const label = `wave ${index} "${wave.name}"`;

  const failing = failingRatioGate(o, gates);
  if (failing !== undefined) {
    const message = `${label}: ${failing.count} of ${o.targeted} targeted instances ${failing.gate === 'maxRejectRatio' ? 'rejected release' : 'report unhealthy on release'} ${state.toSeq} (${ratioText(failing.value)}), above ${failing.gate} ${failing.threshold}`;
    if (state.state === 'paused' && !policy.autoRollback) return hold('paused', `paused; and ${message}`);
    return fail(state, policy, now, seen, {
      gate: failing.gate,
      wave: index,
      value: failing.value,
      threshold: failing.threshold,
      message,
    });
  }
  if (state.state === 'paused')
    return hold(
      'paused',
      `paused${state.reason ? `: ${state.reason}` : ''}`,
      Math.max(0, wave.bakeMs - bakedMsAt(state, now, observedSince)),
    );

  const bakeRemainingMs = Math.max(0, wave.bakeMs - bakedMsAt(state, now, observedSince));
  if (o.targeted < gates.minInstances) {
    return hold(
      'too_few_instances',
      `${label} targets ${o.targeted} instance${o.targeted === 1 ? '' : 's'}; it needs at least ${gates.minInstances} (gates.minInstances) to judge the release`,
      bakeRemainingMs,
    );
  }
  const reportRatio = reportRatioOf(o);
  if (reportRatio < gates.minReportRatio) {
    const deadline = reportDeadlineOf(policy, index);
    const deadlineAt = reportDeadlineAtOf(state, policy, index, observedSince);
    const reportsText = `${o.reported} of ${o.targeted} targeted instances reported (${ratioText(reportRatio)}), below minReportRatio ${gates.minReportRatio}`;
    if (now >= deadlineAt) {
      const message = `${label}: only ${reportsText} by the report deadline of ${formatDuration(deadline)}; a missing signal is a failing signal`;
      return fail(state, policy, now, seen, {
        gate: 'minReportRatio',
        wave: index,
        value: reportRatio,
        threshold: gates.minReportRatio,
        message,
      });
    }
    const untilDeadline = deadlineAt - now;
    if (bakeRemainingMs > 0) {
      return hold(
        'baking',
        `${label}: baking, ${formatDuration(bakeRemainingMs)} left; ${reportsText}`,
        bakeRemainingMs,
        Math.min(bakeRemainingMs, untilDeadline),
      );
    }
    return hold(
      'waiting_for_reports',
      `${label}: ${reportsText}; failing in ${formatDuration(untilDeadline)} if they do not come`,
      0,
      untilDeadline,
    );
  }
  if (bakeRemainingMs > 0)
    return hold(
      'baking',
      `${label}: baking, ${formatDuration(bakeRemainingMs)} left`,
      bakeRemainingMs,
      bakeRemainingMs,
    );

  const passed = `${label} passed: ${o.applied} applied, ${o.rejected} rejected, ${o.unhealthy} unhealthy of ${o.targeted} targeted; baked ${formatDuration(wave.bakeMs)}`;
  if (index >= policy.waves.length - 1) {
    const message = `${passed}; release ${state.toSeq} is now stable`;
    return {
      state: transition(state, now, 'succeeded', controllerActor, message, { reason: message, ...seen }),
      decision: { kind: 'succeed', wave: index, message },
    };
  }
  const next = index + 1;
  const nextWave = policy.waves[next] as RolloutWave;
  const message = `${passed}; on to wave ${next} "${nextWave.name}" (${nextWave.percent} %)`;
  const advanced = transition(state, now, 'running', controllerActor, message, { wave: next, ...seen });
  return { state: advanced, decision: { kind: 'advance', from: index, to: next, wave: next, message } };
}

function fail(
  state: RolloutState,
  policy: StagedRolloutPolicy,
  now: number,
  seen: { observedSince?: number },
  f: {
    gate: Exclude<RolloutGateName, 'minInstances'>;
    wave: number;
    value: number;
    threshold: number;
    message: string;
  },
): { state: RolloutState; decision: RolloutDecision } {
  const to = policy.autoRollback ? 'rolled_back' : 'paused';
  const reason = policy.autoRollback
    ? `${f.message}; rolled back to release ${state.fromSeq}`
    : `${f.message}; paused (autoRollback is off): roll back, abort, or resume once fixed`;
  return {
    state: transition(state, now, to, controllerActor, reason, { reason, ...seen }),
    decision: { kind: 'fail', ...f, message: reason, rolledBack: policy.autoRollback },
  };
}

function failingRatioGate(
  o: WaveObservation,
  gates: RolloutGates,
): { gate: 'maxRejectRatio' | 'maxUnhealthyRatio'; value: number; threshold: number; count: number } | undefined {
  const rejectRatio = ratio(o.rejected, o.targeted);
  if (rejectRatio > gates.maxRejectRatio)
    return { gate: 'maxRejectRatio', value: rejectRatio, threshold: gates.maxRejectRatio, count: o.rejected };
  const unhealthyRatio = ratio(o.unhealthy, o.targeted);
  if (unhealthyRatio > gates.maxUnhealthyRatio)
    return { gate: 'maxUnhealthyRatio', value: unhealthyRatio, threshold: gates.maxUnhealthyRatio, count: o.unhealthy };
  return undefined;
}

/** Stops the rollout from advancing; bake time stops too. From running. */
export function pause(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'pause', ['running']);
  const why = reason || `paused by ${actor}`;
  return transition(state, now, 'paused', actor, why, { reason: why });
}

/** Carries on a paused rollout; the bake continues where it stopped. From paused. */
export function resume(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'resume', ['paused']);
  return transition(state, now, 'running', actor, reason || `resumed by ${actor}`, {});
}

/** Emergency stop: nothing moves, not even an automatic rollback, until unfreeze. From running or paused. */
export function freeze(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'freeze', ['running', 'paused']);
  const why = reason || `frozen by ${actor}`;
  return transition(state, now, 'frozen', actor, why, { reason: why, frozenFrom: state.state as 'running' | 'paused' });
}

/** Ends a freeze: back to running, or to paused if it was paused when frozen. From frozen. */
export function unfreeze(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'unfreeze', ['frozen']);
  const to = state.frozenFrom ?? 'running';
  const why = reason || `unfrozen by ${actor}`;
  return transition(
    state,
    now,
    to,
    actor,
    why,
    to === 'paused' ? { reason: state.history.findLast((h) => h.to === 'paused')?.reason ?? why } : {},
  );
}

/**
 * Stops the rollout and gives up the candidate without calling it bad (e.g. to make way for a
 * newer release): like a rollback, every instance goes back to the stable content.
 */
export function abort(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'abort', ['running', 'paused', 'frozen']);
  const why = reason || `aborted by ${actor}`;
  return transition(state, now, 'aborted', actor, why, { reason: why });
}

/** Rolls back by hand: every instance goes back to the stable content. From running, paused or frozen. */
export function rollback(state: RolloutState, now: number, actor: string, reason?: string): RolloutState {
  expectState(state, 'rollback', ['running', 'paused', 'frozen']);
  const why = reason || `rolled back by ${actor}`;
  return transition(state, now, 'rolled_back', actor, why, { reason: why });
}

/**
 * Whether the instance should run the candidate now: targeted by the current wave while the
 * rollout is active, everyone once it succeeded, no one after a rollback or abort. An instance
 * that connects mid-rollout gets what this says at that moment.
 */
export function selectsCandidate(state: RolloutState, policy: RolloutPolicy, instance: RolloutInstance): boolean {
  if (state.state === 'succeeded') return true;
  if (!isActiveRollout(state)) return false;
  return isTargeted(policy, state.wave, state.id, instance);
}

function expectState(state: RolloutState, command: string, from: readonly RolloutStateName[]): void {
  if (from.includes(state.state)) return;
  const hint = state.state === 'frozen' ? '; unfreeze it first' : isActiveRollout(state) ? '' : '; it has finished';
  throw new HeraldError(
    'invalid_transition',
    `cannot ${command} rollout ${printable(state.id)} of ${printable(state.namespace)}: it is ${state.state.replace('_', ' ')}${hint} (${command} works when it is ${from.join(' or ')})`,
    {
      extensions: { rolloutState: state.state, allowedFrom: [...from] },
    },
  );
}

/**
 * The one place a state changes: folds running time into the bake, stamps the time, appends the
 * history entry. `changes.wave` moves to a new wave (bake and deadline restart). Time never goes
 * backwards in the state: a `now` before `updatedAt` (another node's clock) counts as `updatedAt`.
 */
function transition(
  state: RolloutState,
  now: number,
  to: RolloutStateName,
  actor: string,
  why: string,
  changes: { wave?: number; reason?: string; frozenFrom?: 'running' | 'paused'; observedSince?: number },
): RolloutState {
  checkNow(now);
  const at = Math.max(now, state.updatedAt);
  const next: RolloutState = {
    ...state,
    state: to,
    updatedAt: at,
    bakedMs: bakedMsAt(state, at, changes.observedSince),
    history: [...state.history],
  };
  delete next.reason;
  delete next.frozenFrom;
  if (changes.reason !== undefined) next.reason = changes.reason;
  if (changes.frozenFrom !== undefined) next.frozenFrom = changes.frozenFrom;
  if (to === 'running') delete next.pausedAt;
  else if ((to === 'paused' || to === 'frozen') && next.pausedAt === undefined) next.pausedAt = at;
  if (changes.wave !== undefined) {
    next.wave = changes.wave;
    next.waveStartedAt = at;
    next.bakedMs = 0;
  }
  next.history.push({ at, from: state.state, to, wave: next.wave, actor, reason: why });
  if (next.history.length > maxHistory) next.history.splice(1, next.history.length - maxHistory);
  return next;
}

// --- status -------------------------------------------------------------------------------------

export interface WaveSummary {
  index: number;
  name: string;
  percent: number;
  bake: string;
  bakeMs: number;
  match?: WaveMatch;
  status: 'done' | 'current' | 'pending';
  /** The counts, on the current wave only. */
  targeted?: number;
  reported?: number;
  applied?: number;
  rejected?: number;
  unhealthy?: number;
}

export interface GateSummary {
  name: RolloutGateName;
  /** The observed value: a count for minInstances, a ratio for the others. */
  value: number;
  threshold: number;
  pass: boolean;
  /** `waiting`: not met yet, but not failed (reports before the deadline; too few instances). */
  status: 'pass' | 'waiting' | 'fail';
}

/** What `herald rollout status --json` prints. */
export interface RolloutSummary {
  id: string;
  namespace: string;
  strategy: RolloutStrategy;
  state: RolloutStateName;
  wave: number;
  waveName: string | null;
  waves: WaveSummary[];
  gates: GateSummary[];
  fromSeq: number;
  toSeq: number;
  startedAt: number;
  updatedAt: number;
  waveStartedAt: number;
  pausedAt: number | null;
  bakeMs: number;
  bakedMs: number;
  bakeRemainingMs: number;
  /** When the current wave's reports must be in (null when not staged or finished). */
  reportDeadlineAt: number | null;
  autoRollback: boolean;
  /** What evaluate would decide now, in words. */
  next: { kind: RolloutDecision['kind']; why?: HoldReason; message: string };
  reason: string | null;
}

/** The status of a rollout at `now`, from its state, its policy and the current wave's counts. Pure; changes nothing. */
export function summarize(
  state: RolloutState,
  policy: RolloutPolicy,
  observation: WaveObservation,
  now: number,
  options: EvaluateOptions = {},
): RolloutSummary {
  const { decision } = evaluate(state, policy, observation, now, options);
  const { observedSince } = options;
  const staged = policy.strategy === 'staged';
  const active = isActiveRollout(state);
  const index = staged ? Math.min(state.wave, policy.waves.length - 1) : 0;
  const wave = staged ? policy.waves[index] : undefined;
  const baked = bakedMsAt(state, now, observedSince);
  const waves: WaveSummary[] = staged
    ? policy.waves.map((w, i) => {
        const status = state.state === 'succeeded' || i < index ? 'done' : i === index ? 'current' : 'pending';
        const item: WaveSummary = {
          index: i,
          name: w.name,
          percent: w.percent,
          bake: formatDuration(w.bakeMs),
          bakeMs: w.bakeMs,
          status,
        };
        if (w.match !== undefined) item.match = w.match;
        if (status === 'current') Object.assign(item, countsOf(observation));
        return item;
      })
    : [];
  const gates: GateSummary[] = [];
  if (staged) {
    const o = observation;
    const deadlinePassed = active && now >= reportDeadlineAtOf(state, policy, index, observedSince);
    const g = policy.gates;
    const add = (name: RolloutGateName, value: number, threshold: number, pass: boolean, failed: boolean): void => {
      gates.push({ name, value, threshold, pass, status: pass ? 'pass' : failed ? 'fail' : 'waiting' });
    };
    add('minInstances', o.targeted, g.minInstances, o.targeted >= g.minInstances, false);
    const reportRatio = reportRatioOf(o);
    add('minReportRatio', reportRatio, g.minReportRatio, reportRatio >= g.minReportRatio, deadlinePassed || !active);
    const rejectRatio = ratio(o.rejected, o.targeted);
    add('maxRejectRatio', rejectRatio, g.maxRejectRatio, rejectRatio <= g.maxRejectRatio, true);
    const unhealthyRatio = ratio(o.unhealthy, o.targeted);
    add('maxUnhealthyRatio', unhealthyRatio, g.maxUnhealthyRatio, unhealthyRatio <= g.maxUnhealthyRatio, true);
  }
  const next: RolloutSummary['next'] = { kind: decision.kind, message: decision.message };
  if (decision.kind === 'hold') next.why = decision.why;
  return {
    id: state.id,
    namespace: state.namespace,
    strategy: policy.strategy,
    state: state.state,
    wave: state.wave,
    waveName: wave?.name ?? null,
    waves,
    gates,
    fromSeq: state.fromSeq,
    toSeq: state.toSeq,
    startedAt: state.startedAt,
    updatedAt: state.updatedAt,
    waveStartedAt: state.waveStartedAt,
    pausedAt: state.pausedAt ?? null,
    bakeMs: wave?.bakeMs ?? 0,
    bakedMs: Math.min(baked, wave?.bakeMs ?? baked),
    bakeRemainingMs: active && wave ? Math.max(0, wave.bakeMs - baked) : 0,
    reportDeadlineAt: active && staged ? reportDeadlineAtOf(state, policy, index, observedSince) : null,
    autoRollback: staged ? policy.autoRollback : false,
    next,
    reason: state.reason ?? null,
  };
}

// --- loading persisted state --------------------------------------------------------------------

/**
 * Checks that a value loaded from storage is a RolloutState, and returns it typed. A stored state
 * that does not fit is a bug or corruption, not a client's mistake: `internal` (500).
 */
export function parseRolloutState(input: unknown): RolloutState {
  const bad = (what: string): never => {
    throw new HeraldError('internal', `stored rollout state is not valid: ${what}`);
  };
  if (!isPlainObject(input)) return bad('not an object');
  for (const field of ['id', 'namespace'] as const)
    if (typeof input[field] !== 'string') bad(`${field} is not a string`);
  for (const field of ['fromSeq', 'toSeq', 'wave', 'waveStartedAt', 'startedAt', 'updatedAt', 'bakedMs'] as const) {
    const value = input[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) bad(`${field} is not a number ≥ 0`);
  }
  if (typeof input.state !== 'string' || !(rolloutStateNames as readonly string[]).includes(input.state))
    bad('state is not a rollout state');
  if (input.pausedAt !== undefined && typeof input.pausedAt !== 'number') bad('pausedAt is not a number');
  if (input.frozenFrom !== undefined && input.frozenFrom !== 'running' && input.frozenFrom !== 'paused')
    bad('frozenFrom is not running or paused');
  if (input.reason !== undefined && typeof input.reason !== 'string') bad('reason is not a string');
  if (!Array.isArray(input.history)) return bad('history is not a list');
  for (const entry of input.history as unknown[]) {
    if (!isPlainObject(entry) || typeof entry.at !== 'number' || typeof entry.wave !== 'number')
      bad('a history entry is malformed');
    const e = entry as Record<string, unknown>;
    for (const field of ['from', 'to', 'actor', 'reason'])
      if (typeof e[field] !== 'string') bad(`a history entry's ${field} is not a string`);
  }
  return input as unknown as RolloutState;
}

// --- helpers ------------------------------------------------------------------------------------

function ratio(count: number, of: number): number {
  if (of === 0) return count > 0 ? 1 : 0;
  return Math.min(1, count / of);
}

/** Share of the targeted instances that reported; a wave of no instances has all its reports (minInstances decides whether such a wave may pass). */
function reportRatioOf(o: WaveObservation): number {
  return o.targeted === 0 ? 1 : Math.min(1, o.reported / o.targeted);
}

function ratioText(value: number): string {
  return `${Math.round(value * 10_000) / 100} %`;
}

function countsOf(
  o: WaveObservation,
): Pick<WaveSummary, 'targeted' | 'reported' | 'applied' | 'rejected' | 'unhealthy'> {
  return {
    targeted: o.targeted,
    reported: o.reported,
    applied: o.applied,
    rejected: o.rejected,
    unhealthy: o.unhealthy,
  };
}

function checkNow(now: number): void {
  if (typeof now !== 'number' || !Number.isFinite(now))
    throw new RangeError(`now must be a finite number of milliseconds, not ${String(now)}`);
}

function checkObservation(o: WaveObservation): void {
  for (const field of ['targeted', 'reported', 'applied', 'rejected', 'unhealthy'] as const) {
    const value = o[field];
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`observation.${field} must be a whole number ≥ 0, not ${String(value)}`);
  }
}

function selectorKey(match: WaveMatch | undefined): string {
  if (match === undefined) return '';
  return JSON.stringify(
    Object.keys(match)
      .sort()
      .map((k) => [k, [...(match[k] ?? [])].sort()]),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownKeys(
  object: Record<string, unknown>,
  known: readonly string[],
  prefix: string,
  problem: (path: string, message: string) => void,
): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key))
      problem(`${prefix}${printable(key.slice(0, 64))}`, `is not a field here (known: ${known.join(', ')})`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `"${printable(value.slice(0, 40))}"`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a ${typeof value}`;
}
