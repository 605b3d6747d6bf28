import type { Violation } from '@herald/core';

/**
 * What can be known of a flagd targeting rule without evaluating it: the `$ref`s it uses, the
 * variant names it can return, and whether it buckets by the targeting key. flagd turns whatever
 * the rule returns into a variant name with `toString()` (so `true` selects variant "true"), and
 * `null` selects the default variant; this walk follows the same rules.
 */

export type Evaluators = Readonly<Record<string, unknown>>;

/** Operations of JSON Logic and flagd that always answer true or false (or null when misused). */
const booleanOperations = new Set([
  '==',
  '===',
  '!=',
  '!==',
  '<',
  '<=',
  '>',
  '>=',
  '!',
  '!!',
  'in',
  'some',
  'all',
  'none',
  'starts_with',
  'ends_with',
  'sem_ver',
]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{"$ref": "name"}`, exactly: the form flagd replaces. */
function refName(node: unknown): string | undefined {
  if (!isPlainObject(node)) return undefined;
  const keys = Object.keys(node);
  return keys.length === 1 && keys[0] === '$ref' && typeof node.$ref === 'string' ? node.$ref : undefined;
}

/**
 * The rule with every `{"$ref": name}` replaced by its evaluator, as flagd does before it parses.
 * Unknown names are reported (path relative to the targeting) and left in place.
 */
export function resolveRefs(
  rule: unknown,
  evaluators: Evaluators,
  path = '/targeting',
): { rule: unknown; problems: Violation[] } {
  const problems: Violation[] = [];
  const walk = (node: unknown, at: string): unknown => {
    const name = refName(node);
    if (name !== undefined) {
      if (Object.hasOwn(evaluators, name)) return evaluators[name];
      problems.push({ path: at, message: `$ref "${name}" names no shared evaluator (see the $evaluators entry)` });
      return node;
    }
    if (Array.isArray(node)) return node.map((child, i) => walk(child, `${at}/${i}`));
    if (isPlainObject(node)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, `${at}/${escapePointer(k)}`);
      return out;
    }
    return node;
  };
  return { rule: walk(rule, path), problems };
}

/** True when the rule uses `$ref` anywhere. */
export function usesRefs(rule: unknown): boolean {
  if (refName(rule) !== undefined) return true;
  if (Array.isArray(rule)) return rule.some(usesRefs);
  if (isPlainObject(rule)) return Object.values(rule).some(usesRefs);
  return false;
}

/** The operation of a JSON Logic node and its arguments as a list. */
function operationOf(node: Record<string, unknown>): { op: string; args: unknown[] } | undefined {
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  const op = keys[0] as string;
  const raw = node[op];
  return { op, args: Array.isArray(raw) ? raw : [raw] };
}

export interface Outcomes {
  /** Variant names the rule can return as literals (`null` is the default variant). */
  names: Map<string, string>;
  /** The rule can also return something only known at evaluation (a `var`, arithmetic, …). */
  dynamic: boolean;
}

/** The variant names a (resolved) rule can return, each with the path of the literal that returns it. */
export function outcomesOf(rule: unknown, path = '/targeting'): Outcomes {
  const outcomes: Outcomes = { names: new Map(), dynamic: false };
  const add = (name: string, at: string) => {
    if (!outcomes.names.has(name)) outcomes.names.set(name, at);
  };
  const walk = (node: unknown, at: string): void => {
    if (node === null) return;
    if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') {
      add(String(node), at);
      return;
    }
    if (!isPlainObject(node)) {
      outcomes.dynamic = true;
      return;
    }
    const operation = operationOf(node);
    if (!operation) {
      outcomes.dynamic = true;
      return;
    }
    const { op, args } = operation;
    const argPath = (i: number) => (Array.isArray(node[op]) ? `${at}/${escapePointer(op)}/${i}` : `${at}/${op}`);
    if (op === 'if' || op === '?:') {
      for (let i = 1; i < args.length; i += 2) walk(args[i], argPath(i));
      // An odd count ends with the else branch; an even one falls through to null (the default).
      if (args.length % 2 === 1 && args.length > 1) walk(args[args.length - 1], argPath(args.length - 1));
      return;
    }
    if (op === 'and' || op === 'or') {
      args.forEach((arg, i) => walk(arg, argPath(i)));
      return;
    }
    if (op === 'fractional') {
      args.forEach((bucket, i) => {
        if (Array.isArray(bucket) && bucket.length > 0) walk(bucket[0], `${argPath(i)}/0`);
      });
      return;
    }
    if (booleanOperations.has(op)) {
      add('true', at);
      add('false', at);
      return;
    }
    outcomes.dynamic = true;
  };
  walk(rule, path);
  return outcomes;
}

/** True when a `fractional` of the rule buckets by the targeting key (no bucketing expression first). */
export function needsTargetingKey(rule: unknown): boolean {
  if (Array.isArray(rule)) return rule.some(needsTargetingKey);
  if (!isPlainObject(rule)) return false;
  const operation = operationOf(rule);
  if (operation?.op === 'fractional' && Array.isArray(operation.args[0])) return true;
  return Object.values(rule).some(needsTargetingKey);
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/gu, '~0').replace(/\//gu, '~1');
}
