import type { Violation } from '@herald/core';
import { ErrorCode, type Logger } from '@openfeature/core';
import type { Flag } from '@openfeature/flagd-core';
import { flagdCore } from './flagd-core.js';
import { escapePointer, outcomesOf, resolveRefs, usesRefs, type Evaluators } from './targeting.js';

/**
 * flagd flag definitions checked before they are stored: Herald's own checks name each problem in
 * words a person can act on, then flagd's own schema and parser (from @openfeature/flagd-core, the
 * code that evaluates them) must accept the definition too, so nothing is stored that flagd would
 * refuse or misread. Paths are JSON Pointers into the definition.
 */

export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
};

const definitionMembers = new Set(['state', 'variants', 'defaultVariant', 'targeting', 'metadata']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type VariantType = 'boolean' | 'string' | 'number' | 'object';

function variantType(value: unknown): VariantType | undefined {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number' && Number.isFinite(value)) return 'number';
  if (isPlainObject(value)) return 'object';
  return undefined;
}

/**
 * What a delivered view's value must look like to be read as a flag: a flagd definition's
 * `state` and `variants`. (The server only stores such values under the flag content type,
 * validated; a look-alike under another content type is read as a flag too, and documented so.)
 */
export function isFlagDefinition(value: unknown): value is Record<string, unknown> {
  return (
    isPlainObject(value) && (value.state === 'ENABLED' || value.state === 'DISABLED') && isPlainObject(value.variants)
  );
}

/** Problems of a `$evaluators` value: an object of named JSON Logic rules that flagd can parse. */
export function evaluatorsProblems(value: unknown): Violation[] {
  if (!isPlainObject(value))
    return [{ path: '', message: 'shared evaluators must be a JSON object of name → JSON Logic' }];
  const problems: Violation[] = [];
  for (const [name, rule] of Object.entries(value)) {
    const at = `/${escapePointer(name)}`;
    if (name === '') problems.push({ path: at, message: 'an evaluator needs a name' });
    if (usesRefs(rule)) problems.push({ path: at, message: 'an evaluator must not use $ref itself' });
    else if (isPlainObject(rule) && !targetingParses('evaluator', rule))
      problems.push({ path: at, message: 'the evaluator does not parse as JSON Logic (unknown operation?)' });
  }
  return problems;
}

/** Whether flagd parses this rule as targeting (a definition's only variant returns whatever it evaluates to). */
function targetingParses(key: string, rule: Record<string, unknown>): boolean {
  const flag = new (flagdCore().FeatureFlag)(
    key,
    { state: 'ENABLED', variants: { x: 'x' }, defaultVariant: 'x', targeting: rule as unknown as string },
    silentLogger,
  );
  return flag.evaluate({ targetingKey: 'herald-validation' }, silentLogger).errorCode !== ErrorCode.PARSE_ERROR;
}

/**
 * Problems of a flag definition (empty when flagd and Herald both accept it). `evaluators` are
 * the shared evaluators its `$ref`s resolve against.
 */
export function flagProblems(key: string, value: unknown, evaluators: Evaluators = {}): Violation[] {
  if (!isPlainObject(value)) return [{ path: '', message: 'a flag definition must be a JSON object' }];
  const problems: Violation[] = [];
  for (const member of Object.keys(value)) {
    if (!definitionMembers.has(member))
      problems.push({
        path: `/${escapePointer(member)}`,
        message: `unknown member "${member}" (flagd knows state, variants, defaultVariant, targeting, metadata)`,
      });
  }
  if (value.state !== 'ENABLED' && value.state !== 'DISABLED')
    problems.push({ path: '/state', message: 'state must be "ENABLED" or "DISABLED"' });
  const variants = value.variants;
  if (!isPlainObject(variants) || Object.keys(variants).length === 0) {
    problems.push({ path: '/variants', message: 'variants must be a JSON object naming at least one variant' });
  } else {
    const types = new Map<VariantType, string>();
    for (const [name, variant] of Object.entries(variants)) {
      const type = variantType(variant);
      if (name === '') problems.push({ path: '/variants/', message: 'a variant needs a name' });
      if (type === undefined)
        problems.push({
          path: `/variants/${escapePointer(name)}`,
          message: `variant "${name}" must be a boolean, string, number or object`,
        });
      else if (!types.has(type)) types.set(type, name);
    }
    if (types.size > 1) {
      const described = [...types].map(([type, name]) => `"${name}" is ${type}`).join(', ');
      problems.push({ path: '/variants', message: `variants must all be of one type: ${described}` });
    }
  }
  if (typeof value.defaultVariant !== 'string')
    problems.push({ path: '/defaultVariant', message: 'defaultVariant must name one of the variants' });
  else if (isPlainObject(variants) && !Object.hasOwn(variants, value.defaultVariant))
    problems.push({
      path: '/defaultVariant',
      message: `defaultVariant "${value.defaultVariant}" is not one of the variants`,
    });
  if (value.metadata !== undefined) {
    if (!isPlainObject(value.metadata)) problems.push({ path: '/metadata', message: 'metadata must be a JSON object' });
    else
      for (const [name, item] of Object.entries(value.metadata))
        if (!['string', 'number', 'boolean'].includes(typeof item))
          problems.push({
            path: `/metadata/${escapePointer(name)}`,
            message: 'metadata values must be strings, numbers or booleans',
          });
  }
  if (value.targeting !== undefined) problems.push(...targetingProblems(key, value.targeting, variants, evaluators));
  if (problems.length > 0) return problems;
  return flagdProblems(key, value, evaluators);
}

function targetingProblems(key: string, targeting: unknown, variants: unknown, evaluators: Evaluators): Violation[] {
  if (!isPlainObject(targeting)) return [{ path: '/targeting', message: 'targeting must be a JSON Logic object' }];
  if (Object.keys(targeting).length === 0) return [];
  const resolved = resolveRefs(targeting, evaluators);
  if (resolved.problems.length > 0) return resolved.problems;
  if (!targetingParses(key, resolved.rule as Record<string, unknown>))
    return [
      {
        path: '/targeting',
        message: 'targeting does not parse as JSON Logic (an unknown operation, or $ref inside a string?)',
      },
    ];
  if (!isPlainObject(variants)) return [];
  const problems: Violation[] = [];
  for (const [name, at] of outcomesOf(resolved.rule).names) {
    if (!Object.hasOwn(variants, name))
      problems.push({ path: at, message: `targeting can return "${name}", which is not one of the variants` });
  }
  return problems;
}

/** flagd's own verdict: its JSON Schema (strict) and its parser, on a flag set of this one flag. */
function flagdProblems(key: string, value: Record<string, unknown>, evaluators: Evaluators): Violation[] {
  const config = JSON.stringify({ $evaluators: evaluators, flags: { [key]: value } });
  try {
    new (flagdCore().MemoryStorage)(silentLogger).setConfigurations(config, true);
    return [];
  } catch (error) {
    return flagdErrors(key, error);
  }
}

/** flagd-core puts its schema validator's findings, as JSON, after its message; show each once. */
function flagdErrors(key: string, error: unknown): Violation[] {
  const message = error instanceof Error ? error.message : String(error);
  const start = message.indexOf('[');
  const prefix = `/flags/${escapePointer(key)}`;
  try {
    const findings = JSON.parse(message.slice(start)) as Array<{ instancePath?: string; message?: string }>;
    const seen = new Set<string>();
    const problems: Violation[] = [];
    for (const finding of findings) {
      const path = (finding.instancePath ?? '').startsWith(prefix)
        ? (finding.instancePath ?? '').slice(prefix.length)
        : (finding.instancePath ?? '');
      const text = `flagd's schema: ${finding.message ?? 'invalid'}`;
      if (seen.has(path + text)) continue;
      seen.add(path + text);
      problems.push({ path, message: text });
    }
    if (problems.length > 0) return problems;
  } catch {
    // Not the schema's findings: a parser error, reported as it is.
  }
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return [{ path: '', message: `flagd refuses the definition: ${message.split('\n', 1)[0] ?? ''}${cause}` }];
}

/** The definition as flagd-core's types name it (only after flagProblems found nothing). */
export function asFlag(value: Record<string, unknown>): Flag {
  return value as unknown as Flag;
}
