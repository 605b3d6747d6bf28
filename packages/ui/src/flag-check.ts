// A flag definition checked in the browser as it is typed: JSON syntax with the place of the first
// mistake (jsonc-parser, since JSON.parse's messages name no position in every browser), then the
// parts of the server's flag rules (docs/flags.md "Validation on write") that need no flagd parser
// and no shared evaluators. It only ever finds a subset of what the server refuses: the server runs
// every rule, flagd's own parser included, and its `invalid_flag` violations are shown on save.
import { findNodeAtLocation, parse, parseTree, printParseErrorCode, type ParseError } from 'jsonc-parser';
import type { Violation } from './api.js';

export const flagContentType = 'application/vnd.herald.flag+json';

export function isFlagContentType(contentType: string): boolean {
  return (contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '') === flagContentType;
}

export interface Place {
  line: number;
  column: number;
}

/** A problem of the definition, with where it is in the text when that can be found. */
export interface FlagProblem extends Violation {
  place?: Place;
}

export type CheckedDefinition =
  { ok: true; value: Record<string, unknown>; problems: FlagProblem[] } | { ok: false; syntax: FlagProblem };

const members = new Set(['state', 'variants', 'defaultVariant', 'targeting', 'metadata']);

/** Operations whose answer is always true or false: flagd selects the variant "true" or "false". */
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

function placeOf(text: string, offset: number): Place {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

const escapePointer = (segment: string): string => segment.replace(/~/gu, '~0').replace(/\//gu, '~1');
const unescapePointer = (segment: string): string => segment.replace(/~1/gu, '/').replace(/~0/gu, '~');

function variantType(value: unknown): string | undefined {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number' && Number.isFinite(value)) return 'number';
  if (isPlainObject(value)) return 'object';
  return undefined;
}

/** The variant names a targeting rule can return as literals, each with the JSON Pointer of the literal. */
function literalOutcomes(rule: unknown, at: string, found: Map<string, string>): void {
  if (rule === null) return;
  if (typeof rule === 'string' || typeof rule === 'number' || typeof rule === 'boolean') {
    if (!found.has(String(rule))) found.set(String(rule), at);
    return;
  }
  if (!isPlainObject(rule)) return;
  const keys = Object.keys(rule);
  // A `$ref` is resolved against the shared evaluators, which only the server sees.
  if (keys.length !== 1 || keys[0] === '$ref') return;
  const op = keys[0] as string;
  const raw = rule[op];
  const args = Array.isArray(raw) ? raw : [raw];
  const argAt = (i: number) => (Array.isArray(raw) ? `${at}/${escapePointer(op)}/${i}` : `${at}/${escapePointer(op)}`);
  if (op === 'if' || op === '?:') {
    for (let i = 1; i < args.length; i += 2) literalOutcomes(args[i], argAt(i), found);
    if (args.length % 2 === 1 && args.length > 1) literalOutcomes(args[args.length - 1], argAt(args.length - 1), found);
  } else if (op === 'and' || op === 'or') {
    args.forEach((arg, i) => literalOutcomes(arg, argAt(i), found));
  } else if (op === 'fractional') {
    args.forEach((bucket, i) => {
      if (Array.isArray(bucket) && bucket.length > 0) literalOutcomes(bucket[0], `${argAt(i)}/0`, found);
    });
  } else if (booleanOperations.has(op)) {
    for (const name of ['true', 'false']) if (!found.has(name)) found.set(name, at);
  }
}

/** A namespace label's shared evaluators (the `$evaluators` entry's value): name → JSON Logic. */
export type Evaluators = Readonly<Record<string, unknown>>;

export const evaluatorsKey = '$evaluators';

/** `{"$ref": "name"}`, exactly: the form flagd replaces. */
function refName(node: unknown): string | undefined {
  if (!isPlainObject(node)) return undefined;
  const keys = Object.keys(node);
  return keys.length === 1 && keys[0] === '$ref' && typeof node.$ref === 'string' ? node.$ref : undefined;
}

/** The rule with each `$ref` replaced by its evaluator, as flagd does; unknown names are problems. */
function resolveRefs(rule: unknown, evaluators: Evaluators): { rule: unknown; problems: Violation[] } {
  const problems: Violation[] = [];
  const walk = (node: unknown, at: string): unknown => {
    const name = refName(node);
    if (name !== undefined) {
      if (Object.hasOwn(evaluators, name)) return evaluators[name];
      problems.push({ path: at, message: `$ref "${name}" names no shared evaluator (see the $evaluators entry)` });
      return node;
    }
    if (Array.isArray(node)) return node.map((child, i) => walk(child, `${at}/${i}`));
    if (isPlainObject(node))
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, `${at}/${escapePointer(k)}`)]));
    return node;
  };
  return { rule: walk(rule, '/targeting'), problems };
}

/**
 * Problems of a parsed definition, with paths as the server writes them (JSON Pointers).
 * `evaluators` are the shared evaluators its `$ref`s resolve against; when they are not known,
 * `$ref`s are left to the server.
 */
export function definitionProblems(value: unknown, evaluators?: Evaluators): Violation[] {
  if (!isPlainObject(value)) return [{ path: '', message: 'a flag definition must be a JSON object' }];
  const problems: Violation[] = [];
  for (const member of Object.keys(value))
    if (!members.has(member))
      problems.push({
        path: `/${escapePointer(member)}`,
        message: `unknown member "${member}" (flagd knows state, variants, defaultVariant, targeting, metadata)`,
      });
  if (value.state !== 'ENABLED' && value.state !== 'DISABLED')
    problems.push({ path: '/state', message: 'state must be "ENABLED" or "DISABLED"' });
  const variants = value.variants;
  if (!isPlainObject(variants) || Object.keys(variants).length === 0) {
    problems.push({ path: '/variants', message: 'variants must be a JSON object naming at least one variant' });
  } else {
    const types = new Map<string, string>();
    for (const [name, variant] of Object.entries(variants)) {
      const type = variantType(variant);
      if (type === undefined)
        problems.push({
          path: `/variants/${escapePointer(name)}`,
          message: `variant "${name}" must be a boolean, string, number or object`,
        });
      else if (!types.has(type)) types.set(type, name);
    }
    if (types.size > 1)
      problems.push({
        path: '/variants',
        message: `variants must all be of one type: ${[...types].map(([type, name]) => `"${name}" is ${type}`).join(', ')}`,
      });
  }
  if (typeof value.defaultVariant !== 'string')
    problems.push({ path: '/defaultVariant', message: 'defaultVariant must name one of the variants' });
  else if (isPlainObject(variants) && !Object.hasOwn(variants, value.defaultVariant))
    problems.push({
      path: '/defaultVariant',
      message: `defaultVariant "${value.defaultVariant}" is not one of the variants`,
    });
  if (value.metadata !== undefined && !isPlainObject(value.metadata))
    problems.push({ path: '/metadata', message: 'metadata must be a JSON object' });
  if (value.targeting !== undefined) {
    if (!isPlainObject(value.targeting))
      problems.push({ path: '/targeting', message: 'targeting must be a JSON Logic object' });
    else {
      const resolved = evaluators ? resolveRefs(value.targeting, evaluators) : { rule: value.targeting, problems: [] };
      problems.push(...resolved.problems);
      // As on the server: the variants a rule returns are looked at once its references resolve.
      if (isPlainObject(variants) && resolved.problems.length === 0) {
        const outcomes = new Map<string, string>();
        literalOutcomes(resolved.rule, '/targeting', outcomes);
        for (const [name, at] of outcomes)
          if (!Object.hasOwn(variants, name))
            problems.push({ path: at, message: `targeting can return "${name}", which is not one of the variants` });
      }
    }
  }
  return problems;
}

/** Where a JSON Pointer of the definition is in its text (the start of that value), if it is there. */
export function placeOfPointer(text: string, pointer: string): Place | undefined {
  const tree = parseTree(text);
  if (!tree) return undefined;
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  const path = segments.map((segment) => (/^\d+$/u.test(segment) ? Number(segment) : segment));
  const node = findNodeAtLocation(tree, path);
  return node ? placeOf(text, node.offset) : undefined;
}

/** The text as JSON (the first syntax error with its line and column), then its problems, each placed. */
export function checkDefinition(text: string, evaluators?: Evaluators): CheckedDefinition {
  if (text.trim() === '')
    return { ok: false, syntax: { path: '', message: 'Enter the flag definition as a JSON object.' } };
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { disallowComments: true, allowTrailingComma: false });
  const first = errors[0];
  if (first) {
    const place = placeOf(text, first.offset);
    return {
      ok: false,
      syntax: {
        path: '',
        message: `Not valid JSON at line ${place.line}, column ${place.column}: ${describeParseError(printParseErrorCode(first.error))}`,
        place,
      },
    };
  }
  const problems = definitionProblems(value, evaluators).map((problem) => {
    const place = placeOfPointer(text, problem.path);
    return place ? { ...problem, place } : problem;
  });
  return isPlainObject(value)
    ? { ok: true, value, problems }
    : { ok: false, syntax: problems[0] ?? { path: '', message: 'a flag definition must be a JSON object' } };
}

/** jsonc-parser's error codes (`CommaExpected`) in words. */
function describeParseError(code: string): string {
  const words = code.replace(/([a-z])([A-Z])/gu, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The templates a new flag starts from. */
export const flagTemplates: Array<{ id: string; name: string; definition: Record<string, unknown> }> = [
  {
    id: 'boolean',
    name: 'Boolean (on / off)',
    definition: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
  },
  {
    id: 'string',
    name: 'String variants',
    definition: {
      state: 'ENABLED',
      variants: { control: 'control', treatment: 'treatment' },
      defaultVariant: 'control',
      targeting: {
        fractional: [
          ['control', 50],
          ['treatment', 50],
        ],
      },
    },
  },
];
