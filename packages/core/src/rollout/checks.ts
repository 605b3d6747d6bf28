/**
 * The gates on the service's own signals: metric checks (a PromQL query against a threshold) and
 * HTTP checks (a URL that answers pass or fail). Pure: parsing them from a policy, filling in a
 * query's placeholders for a wave, and judging the samples the server took. The server takes the
 * samples (server/src/rollouts/gate-checks.ts); the machine gets them in its observation.
 *
 * How a check judges a wave (docs/rollouts.md):
 * - every sample of the wave is `pass`, `breach` (beyond the threshold, or the URL said fail),
 *   `no_data` (the query returned nothing, or NaN) or `error` (the query or the request failed);
 * - a breach fails the wave at once;
 * - `no_data` and `error` are failing signals: before the check has had its first sample with
 *   data in the wave, they wait, up to the wave's report deadline (a canary's series take a scrape
 *   or two to appear), then fail the wave; after it, they fail it at once (the signal was lost).
 *   `noData: pass` makes `no_data` a pass (a query that is empty when all is well); an error never is;
 * - the wave can pass only when every check's latest sample passed.
 */
import { checkDuration, formatDuration } from '../duration.js';
import { printable } from '../validation.js';
import { describe, isPlainObject, unknownKeys } from './helpers.js';
import type { WaveMatch } from './policy.js';

export type NoDataRule = 'fail' | 'pass';

export interface MetricCheck {
  name: string;
  /** PromQL, with placeholders (renderQuery). */
  query: string;
  /** The value must be at most this… */
  max?: number;
  /** …and at least this. At least one of the two. */
  min?: number;
  intervalMs: number;
  noData: NoDataRule;
}

export interface HttpCheck {
  name: string;
  /** GET; placeholders are filled in URL-encoded. 2xx passes, anything else fails; a JSON body `{ "pass": bool, "value": n }` decides instead. */
  url: string;
  intervalMs: number;
  timeoutMs: number;
  noData: NoDataRule;
}

/** One sample the server took of a check. */
export interface CheckSample {
  /** Server clock, ms. */
  at: number;
  /** The query's value, or the `value` an HTTP check answered; null when there was none. */
  value: number | null;
  /** An HTTP check's verdict; absent for a metric check (the threshold decides) and when the request failed. */
  pass?: boolean;
  /** Why there is no value: the query or the request failed (a failing signal). */
  error?: string;
}

export type SampleOutcome = 'pass' | 'breach' | 'no_data' | 'error';

/** A check's samples in the current wave, as the controller gives them to the machine. */
export interface CheckObservation {
  name: string;
  kind: 'metric' | 'http';
  /** The query or URL as sent, placeholders filled in. */
  target: string;
  /** Oldest first; the server keeps the first breach and the latest ones. */
  samples: CheckSample[];
}

export interface CheckJudgement {
  status: 'pass' | 'waiting' | 'fail';
  message: string;
  /** The sample that failed the check, if one did. */
  failed?: CheckSample & { outcome: SampleOutcome };
}

export const checkLimits = { checks: 10, queryLength: 4096, urlLength: 2048, defaultIntervalMs: 30_000 };
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u;

type Problem = (path: string, message: string) => void;

/** Reads `gates.metrics` and `gates.http`; names must be unique across both. */
export function parseChecks(
  gates: Record<string, unknown>,
  problem: Problem,
): { metrics: MetricCheck[]; http: HttpCheck[] } {
  const names = new Map<string, string>();
  const metrics = listOf(gates.metrics, 'gates.metrics', problem).flatMap((raw, i) => {
    const check = parseMetric(raw, `gates.metrics[${i}]`, problem, names);
    return check ? [check] : [];
  });
  const http = listOf(gates.http, 'gates.http', problem).flatMap((raw, i) => {
    const check = parseHttp(raw, `gates.http[${i}]`, problem, names);
    return check ? [check] : [];
  });
  return { metrics, http };
}

function listOf(input: unknown, path: string, problem: Problem): unknown[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) {
    problem(path, `must be a list of checks; got ${describe(input)}`);
    return [];
  }
  if (input.length > checkLimits.checks)
    problem(path, `has ${input.length} checks; the limit is ${checkLimits.checks}`);
  return input.slice(0, checkLimits.checks);
}

function parseCommon(
  raw: Record<string, unknown>,
  path: string,
  problem: Problem,
  names: Map<string, string>,
): { name: string; intervalMs: number; noData: NoDataRule } {
  let name = path;
  if (typeof raw.name !== 'string')
    problem(`${path}.name`, raw.name === undefined ? 'is required' : `must be a string; got ${describe(raw.name)}`);
  else if (!namePattern.test(raw.name))
    problem(
      `${path}.name`,
      `"${printable(raw.name.slice(0, 70))}" must be 1-64 characters of letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  else {
    name = raw.name;
    const earlier = names.get(name);
    if (earlier !== undefined) problem(`${path}.name`, `"${name}" is already the name of ${earlier}`);
    else names.set(name, path);
  }
  let intervalMs = checkLimits.defaultIntervalMs;
  if (raw.interval !== undefined) {
    const interval = checkDuration(raw.interval);
    if (interval.problem !== undefined) problem(`${path}.interval`, interval.problem);
    else if (interval.ms < 1000) problem(`${path}.interval`, `must be at least 1s; got ${formatDuration(interval.ms)}`);
    else intervalMs = interval.ms;
  }
  let noData: NoDataRule = 'fail';
  if (raw.noData !== undefined) {
    if (raw.noData === 'fail' || raw.noData === 'pass') noData = raw.noData;
    else problem(`${path}.noData`, `must be fail or pass; got ${describe(raw.noData)}`);
  }
  return { name, intervalMs, noData };
}

function parseMetric(
  raw: unknown,
  path: string,
  problem: Problem,
  names: Map<string, string>,
): MetricCheck | undefined {
  if (!isPlainObject(raw)) {
    problem(path, `must be an object with name, query and max or min; got ${describe(raw)}`);
    return undefined;
  }
  unknownKeys(raw, ['name', 'query', 'max', 'min', 'interval', 'noData'], `${path}.`, problem);
  const common = parseCommon(raw, path, problem, names);
  let query = '';
  if (typeof raw.query !== 'string' || raw.query.trim() === '')
    problem(`${path}.query`, raw.query === undefined ? 'is required: a PromQL query' : 'must be a non-empty string');
  else if (raw.query.length > checkLimits.queryLength)
    problem(`${path}.query`, `is ${raw.query.length} characters; the limit is ${checkLimits.queryLength}`);
  else {
    query = raw.query;
    templateProblems(query, `${path}.query`, problem);
  }
  const check: MetricCheck = { ...common, query };
  for (const bound of ['max', 'min'] as const) {
    const value = raw[bound];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value))
      problem(`${path}.${bound}`, `must be a number; got ${describe(value)}`);
    else check[bound] = value;
  }
  if (raw.max === undefined && raw.min === undefined)
    problem(`${path}.max`, 'a metric check needs max or min (or both): the threshold the value must keep to');
  if (check.max !== undefined && check.min !== undefined && check.min > check.max)
    problem(`${path}.min`, `${check.min} is above max ${check.max}: no value could pass`);
  return check;
}

function parseHttp(raw: unknown, path: string, problem: Problem, names: Map<string, string>): HttpCheck | undefined {
  if (!isPlainObject(raw)) {
    problem(path, `must be an object with name and url; got ${describe(raw)}`);
    return undefined;
  }
  unknownKeys(raw, ['name', 'url', 'interval', 'timeout', 'noData'], `${path}.`, problem);
  const common = parseCommon(raw, path, problem, names);
  let url = '';
  if (typeof raw.url !== 'string')
    problem(
      `${path}.url`,
      raw.url === undefined ? 'is required: an http(s) URL' : `must be a string; got ${describe(raw.url)}`,
    );
  else if (raw.url.length > checkLimits.urlLength)
    problem(`${path}.url`, `is ${raw.url.length} characters; the limit is ${checkLimits.urlLength}`);
  else if (!/^https?:\/\/[^\s]+$/u.test(raw.url))
    problem(`${path}.url`, `"${printable(raw.url.slice(0, 80))}" must be an http:// or https:// URL with no spaces`);
  else {
    url = raw.url;
    templateProblems(url, `${path}.url`, problem);
  }
  let timeoutMs = 5000;
  if (raw.timeout !== undefined) {
    const timeout = checkDuration(raw.timeout);
    if (timeout.problem !== undefined) problem(`${path}.timeout`, timeout.problem);
    else if (timeout.ms < 100 || timeout.ms > 60_000)
      problem(`${path}.timeout`, `must be from 100ms to 60s; got ${formatDuration(timeout.ms)}`);
    else timeoutMs = timeout.ms;
  }
  return { ...common, url, timeoutMs };
}

/** The check as written in a policy document (durations as strings). */
export function formatMetricCheck(check: MetricCheck): Record<string, unknown> {
  return {
    name: check.name,
    query: check.query,
    ...(check.max === undefined ? {} : { max: check.max }),
    ...(check.min === undefined ? {} : { min: check.min }),
    interval: formatDuration(check.intervalMs),
    noData: check.noData,
  };
}

export function formatHttpCheck(check: HttpCheck): Record<string, unknown> {
  return {
    name: check.name,
    url: check.url,
    interval: formatDuration(check.intervalMs),
    timeout: formatDuration(check.timeoutMs),
    noData: check.noData,
  };
}

// --- placeholders -------------------------------------------------------------------------------

/** What a query or URL may refer to about the wave being judged. */
export interface CheckContext {
  namespace: string;
  rolloutId: string;
  /** The candidate release. */
  seq: number;
  /** The stable release. */
  stable: number;
  wave: string;
  waveIndex: number;
  /** Ids of the instances the wave targets (on the candidate). */
  instances: readonly string[];
  /** The wave's match (attribute → values it targets); absent: every instance. */
  match?: WaveMatch | undefined;
}

const placeholder = /\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[^{}\s]+)?)\s*\}\}/gu;
const simpleNames = new Set(['seq', 'stable', 'wave', 'waveIndex', 'namespace', 'rollout', 'instances']);

function templateProblems(template: string, path: string, problem: Problem): void {
  for (const [, name] of template.matchAll(placeholder)) {
    if (name === undefined || simpleNames.has(name) || name.startsWith('match.')) continue;
    problem(
      path,
      `{{${printable(name.slice(0, 40))}}} is not a placeholder (known: ${[...simpleNames].map((n) => `{{${n}}}`).join(', ')}, {{match.ATTRIBUTE}})`,
    );
  }
}

/** A regex that matches exactly these values, for a PromQL `=~` matcher (anchored by PromQL). */
export function alternation(values: readonly string[]): string {
  return values.map((v) => v.replace(/[\\^$.|?*+()[\]{}]/gu, '\\$&')).join('|');
}

/** The text as the inside of a PromQL double-quoted string. */
function promqlString(text: string): string {
  return text.replace(/[\\"]/gu, '\\$&').replace(/\n/gu, '\\n');
}

function values(name: string, context: CheckContext): string[] | string | undefined {
  switch (name) {
    case 'seq':
      return String(context.seq);
    case 'stable':
      return String(context.stable);
    case 'wave':
      return context.wave;
    case 'waveIndex':
      return String(context.waveIndex);
    case 'namespace':
      return context.namespace;
    case 'rollout':
      return context.rolloutId;
    case 'instances':
      return [...context.instances];
    default: {
      if (!name.startsWith('match.')) return undefined;
      const attribute = name.slice('match.'.length);
      return context.match?.[attribute] ? [...context.match[attribute]] : [];
    }
  }
}

/**
 * A metric query with its placeholders filled in: single values as they are, lists
 * (`{{instances}}`, `{{match.region}}`) as a regex alternation for `=~`; both escaped for the
 * inside of a double-quoted PromQL string, where placeholders belong. An empty list gives an
 * empty regex (which matches only series without the label).
 */
export function renderQuery(template: string, context: CheckContext): string {
  return template.replace(placeholder, (whole, name: string) => {
    const value = values(name, context);
    if (value === undefined) return whole;
    return promqlString(typeof value === 'string' ? value : alternation(value));
  });
}

/** A URL with its placeholders filled in, URL-encoded; lists joined with commas. */
export function renderUrl(template: string, context: CheckContext): string {
  return template.replace(placeholder, (whole, name: string) => {
    const value = values(name, context);
    if (value === undefined) return whole;
    return typeof value === 'string' ? encodeURIComponent(value) : value.map(encodeURIComponent).join(',');
  });
}

// --- judging --------------------------------------------------------------------------------------

export function thresholdText(check: MetricCheck): string {
  return [check.min === undefined ? '' : `min ${check.min}`, check.max === undefined ? '' : `max ${check.max}`]
    .filter(Boolean)
    .join(', ');
}

export function outcomeOf(check: MetricCheck | HttpCheck, kind: 'metric' | 'http', sample: CheckSample): SampleOutcome {
  if (sample.error !== undefined) return 'error';
  if (kind === 'http') return sample.pass === false ? 'breach' : 'pass';
  const metric = check as MetricCheck;
  if (sample.value === null || Number.isNaN(sample.value)) return check.noData === 'pass' ? 'pass' : 'no_data';
  if (metric.max !== undefined && sample.value > metric.max) return 'breach';
  if (metric.min !== undefined && sample.value < metric.min) return 'breach';
  return 'pass';
}

const at = (ms: number): string => new Date(ms).toISOString();

/**
 * Judges one check for the current wave from its samples taken since `from` (the later of the
 * wave's start and the controller's observation window), with no-data and errors tolerated
 * until `deadlineAt` only before the first sample with data.
 */
export function judgeCheck(
  check: MetricCheck | HttpCheck,
  kind: 'metric' | 'http',
  observation: CheckObservation | undefined,
  from: number,
  deadlineAt: number,
  now: number,
): CheckJudgement {
  const label = `${kind} check "${check.name}"`;
  const samples = (observation?.samples ?? []).filter((s) => s.at >= from);
  let hadData = false;
  let last: SampleOutcome | undefined;
  for (const sample of samples) {
    const outcome = outcomeOf(check, kind, sample);
    last = outcome;
    if (outcome === 'breach') {
      const what =
        kind === 'metric'
          ? `${String(sample.value)} is beyond ${thresholdText(check as MetricCheck)}`
          : `the URL answered fail${sample.value === null ? '' : ` (value ${sample.value})`}`;
      return { status: 'fail', message: `${label}: ${what} at ${at(sample.at)}`, failed: { ...sample, outcome } };
    }
    if (outcome === 'pass') {
      hadData = true;
      continue;
    }
    const what = outcome === 'error' ? `failed (${sample.error ?? 'error'})` : 'returned no data';
    if (hadData)
      return {
        status: 'fail',
        message: `${label} ${what} at ${at(sample.at)} after it had data; a lost signal is a failing signal`,
        failed: { ...sample, outcome },
      };
    if (sample.at >= deadlineAt)
      return {
        status: 'fail',
        message: `${label} still ${what} at ${at(sample.at)}, past the wave's report deadline; a missing signal is a failing signal`,
        failed: { ...sample, outcome },
      };
  }
  if (last === 'pass') return { status: 'pass', message: `${label} holds` };
  if (last === undefined) {
    return {
      status: now >= deadlineAt + check.intervalMs ? 'fail' : 'waiting',
      message:
        now >= deadlineAt + check.intervalMs
          ? `${label} has no sample in this wave by its report deadline; a missing signal is a failing signal`
          : `${label}: waiting for its first sample`,
    };
  }
  return { status: 'waiting', message: `${label}: waiting for data (no data yet; it fails at the report deadline)` };
}
