import { RE2JS } from 're2js';
import { HeraldError } from './errors.js';

/**
 * What makes a namespace's JSON Schema safe to run on the event loop: regular expressions run on
 * a linear-time engine (RE2), and the work one value can cause is bounded before the schema is
 * accepted (no `$ref` cycle that does not consume the value, no exponential fan-out). The bounds
 * are documented in docs/api.md ("Schema limits").
 */
export const schemaLimits = Object.freeze({
  /** Characters of one `pattern` or `patternProperties` key. */
  maxPatternLength: 1024,
  /** Subschemas in one schema (every object or boolean in a schema position). */
  maxSubschemas: 5000,
  /** Schema evaluations one value's path through the schema may cost (see `evaluationCost`). */
  maxEvaluationCost: 20_000,
  /** Nesting of a value the cost is computed for: the deepest a document value can be. */
  valueDepth: 36,
});

/**
 * ajv's `code.regExp` engine: ECMAScript pattern syntax translated to RE2 and matched in linear
 * time, so `^(a+)+$` on a long value cannot block the process. Lookarounds and backreferences have
 * no linear-time match; RE2 refuses them, and so the schema is refused at compile time.
 */
export const linearRegExp = Object.assign(
  (pattern: string, _flags: string): { test: (input: string) => boolean; toString: () => string } => {
    if (pattern.length > schemaLimits.maxPatternLength)
      throw new Error(`a pattern is ${pattern.length} characters; the limit is ${schemaLimits.maxPatternLength}`);
    const compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
    // ajv caches compiled patterns by their toString(), so it must be the pattern's own text.
    return { test: (input: string) => compiled.test(input), toString: () => `/${pattern}/` };
  },
  // The name ajv would print in standalone code; Herald never generates standalone code.
  { code: 'linearRegExp' },
);

type SchemaNode = Record<string, unknown> | boolean;

const sameValueSingle = ['not', 'if', 'then', 'else'] as const;
const sameValueArrays = ['allOf', 'anyOf', 'oneOf'] as const;
const sameValueMaps = ['dependentSchemas', 'dependencies'] as const;
const refKeywords = ['$ref', '$dynamicRef', '$recursiveRef'] as const;

function isNode(value: unknown): value is SchemaNode {
  return typeof value === 'boolean' || (typeof value === 'object' && value !== null && !Array.isArray(value));
}

function schemasOf(value: unknown): SchemaNode[] {
  if (Array.isArray(value)) return value.filter(isNode);
  return isNode(value) ? [value] : [];
}

function mapValues(value: unknown): SchemaNode[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  return Object.values(value).filter(isNode);
}

function withoutFragment(url: string): string {
  const hash = url.indexOf('#');
  return hash < 0 ? url : url.slice(0, hash);
}

function refused(detail: string): HeraldError {
  return new HeraldError('invalid_schema', detail);
}

/**
 * Finds every `$ref` target the way ajv resolves local references ("#", "#/json/pointer",
 * "#anchor", and `$id`-relative ones); a reference it cannot resolve is left to ajv, which
 * refuses it (no remote schema is ever loaded).
 */
class RefResolver {
  readonly #resources = new Map<string, SchemaNode>();
  readonly #anchors = new Map<string, SchemaNode>();
  readonly #baseOf = new Map<object, string>();
  #count = 0;

  constructor(root: SchemaNode) {
    this.#walk(root, 'herald:/schema');
  }

  baseOf(node: SchemaNode, fallback: string): string {
    return typeof node === 'object' ? (this.#baseOf.get(node) ?? fallback) : fallback;
  }

  resolve(ref: string, base: string): SchemaNode | undefined {
    let url: URL;
    try {
      url = new URL(ref, base);
    } catch {
      return undefined;
    }
    const fragment = decodeURIComponent(url.hash.slice(1));
    const resourceUrl = withoutFragment(url.href);
    if (fragment !== '' && !fragment.startsWith('/')) return this.#anchors.get(`${resourceUrl}#${fragment}`);
    let node: unknown = this.#resources.get(resourceUrl);
    for (const token of fragment.split('/').slice(1)) {
      if (typeof node !== 'object' || node === null) return undefined;
      const name = token.replaceAll('~1', '/').replaceAll('~0', '~');
      node = Object.hasOwn(node, name) ? (node as Record<string, unknown>)[name] : undefined;
    }
    return isNode(node) ? node : undefined;
  }

  #walk(node: SchemaNode, parentBase: string): void {
    this.#count += 1;
    if (this.#count > schemaLimits.maxSubschemas)
      throw refused(`the schema has more than ${schemaLimits.maxSubschemas} subschemas`);
    if (typeof node === 'boolean') return;
    let base = parentBase;
    if (typeof node.$id === 'string') {
      try {
        base = withoutFragment(new URL(node.$id, parentBase).href);
      } catch {
        // ajv refuses the schema for its malformed $id.
      }
      this.#resources.set(base, node);
    } else if (this.#resources.size === 0) {
      this.#resources.set(base, node);
    }
    this.#baseOf.set(node, base);
    for (const anchor of [node.$anchor, node.$dynamicAnchor]) {
      if (typeof anchor === 'string') this.#anchors.set(`${base}#${anchor}`, node);
    }
    for (const [keyword, value] of Object.entries(node)) {
      if (keyword === 'enum' || keyword === 'const' || keyword === 'default' || keyword === 'examples') continue;
      if (keyword === 'properties' || keyword === 'patternProperties' || keyword === '$defs')
        for (const child of mapValues(value)) this.#walk(child, base);
      else if (keyword === 'definitions' || keyword === 'dependentSchemas' || keyword === 'dependencies')
        for (const child of mapValues(value)) this.#walk(child, base);
      else if (isNode(value) || Array.isArray(value)) for (const child of schemasOf(value)) this.#walk(child, base);
    }
  }
}

const inProgress = -1;

/**
 * The evaluations one value costs along one path into it: the schema node itself, every schema
 * applied to the same value (allOf, anyOf, oneOf, not, if/then/else, dependentSchemas, $ref), and
 * the costliest way down into one child (properties: the largest, since one name matches one
 * property; patternProperties: all of them, since several may match). A cycle through schemas
 * applied to the same value never ends on any value: it is refused, as is a cost above the limit.
 * The work on a whole value is at most its node count times this cost.
 */
class CostCounter {
  readonly #resolver: RefResolver;
  readonly #memo = new Map<SchemaNode, Map<number, number>>();

  constructor(resolver: RefResolver) {
    this.#resolver = resolver;
  }

  cost(node: SchemaNode, depth: number, base: string): number {
    if (typeof node === 'boolean') return 1;
    const seen = this.#memo.get(node) ?? new Map<number, number>();
    this.#memo.set(node, seen);
    const known = seen.get(depth);
    if (known === inProgress)
      throw refused('the schema refers to itself without descending into the value ($ref cycle); it would never end');
    if (known !== undefined) return known;
    seen.set(depth, inProgress);
    const here = this.#resolver.baseOf(node, base);
    let total = 1;
    const add = (amount: number): void => {
      total += amount;
      if (total > schemaLimits.maxEvaluationCost)
        throw refused(
          `the schema may evaluate a value more than ${schemaLimits.maxEvaluationCost} times (nested anyOf/allOf/$ref fan-out)`,
        );
    };
    const sum = (nodes: SchemaNode[], d: number): number =>
      nodes.reduce((n, child) => n + this.cost(child, d, here), 0);
    const max = (nodes: SchemaNode[], d: number): number =>
      nodes.reduce((n, child) => Math.max(n, this.cost(child, d, here)), 0);

    for (const keyword of sameValueSingle) add(sum(schemasOf(node[keyword]), depth));
    for (const keyword of sameValueArrays) add(sum(schemasOf(node[keyword]), depth));
    for (const keyword of sameValueMaps) add(sum(mapValues(node[keyword]), depth));
    for (const keyword of refKeywords) {
      const ref = node[keyword];
      const target = typeof ref === 'string' ? this.#resolver.resolve(ref, here) : undefined;
      if (target !== undefined) add(this.cost(target, depth, here));
    }
    if (depth > 0) {
      const d = depth - 1;
      const objectChild =
        max(mapValues(node.properties), d) +
        sum(mapValues(node.patternProperties), d) +
        sum(schemasOf(node.additionalProperties), d) +
        sum(schemasOf(node.unevaluatedProperties), d) +
        sum(schemasOf(node.propertyNames), 0);
      const items = node.items;
      const arrayChild =
        max([...schemasOf(node.prefixItems), ...(Array.isArray(items) ? schemasOf(items) : [])], d) +
        (Array.isArray(items) ? 0 : sum(schemasOf(items), d)) +
        sum(schemasOf(node.additionalItems), d) +
        sum(schemasOf(node.contains), d) +
        sum(schemasOf(node.unevaluatedItems), d);
      add(Math.max(objectChild, arrayChild));
    }
    seen.set(depth, total);
    return total;
  }
}

/**
 * Refuses, with `invalid_schema`, a schema that could not finish on some value or could cost too
 * much on one: a `$ref` cycle that applies to the same value (`{"$ref":"#"}`,
 * `{"anyOf":[{"$ref":"#"}]}`), too many subschemas, or too large a fan-out. A recursive schema
 * that descends into the value (`{"items":{"$ref":"#"}}`) is fine: a value's depth is bounded.
 */
export function checkSchemaBounds(schema: Record<string, unknown>, where: string): void {
  try {
    const resolver = new RefResolver(schema);
    new CostCounter(resolver).cost(schema, schemaLimits.valueDepth, 'herald:/schema');
  } catch (cause) {
    if (cause instanceof HeraldError) throw new HeraldError('invalid_schema', `${where}: ${cause.message}`);
    // A schema nested so deeply that walking it overflows the stack is refused, not a 500.
    throw new HeraldError('invalid_schema', `${where} is too deeply nested to check`, { cause });
  }
}
