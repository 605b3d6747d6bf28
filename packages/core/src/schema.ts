import { createRequire } from 'node:module';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { sha256 } from './sha256.js';
import { HeraldError, type Violation } from './errors.js';
import { checkSchemaBounds, linearRegExp } from './schema-limits.js';

/**
 * A namespace's schema. `document` sees the namespace as instances receive it, as one object
 * (key → value): the default label alone, and the default with each label over it (labels are
 * overrides, so a one-key `prod` label is checked merged onto the default); so it can require keys
 * or forbid unknown ones. Each prefix schema sees the single value of every key that starts with
 * its prefix.
 */
export interface NamespaceSchema {
  document?: Record<string, unknown>;
  prefixes?: Array<{ prefix: string; schema: Record<string, unknown> }>;
}

// ajv and ajv-formats (about 150 CommonJS files) are required on the first schema compiled, not
// when @herald/core is imported: most processes that import it (the CLI's `herald get`, a server
// restarting) compile none before they answer. Synchronous, so compiling stays synchronous.
const require = createRequire(import.meta.url);
let ajvModules: { Ajv: typeof Ajv2020; addFormats: (ajv: Ajv2020) => Ajv2020 } | undefined;

function createAjv(): Ajv2020 {
  ajvModules ??= {
    Ajv: (require('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020,
    // ajv-formats is CommonJS (`module.exports = fn`, with `default` too); its typings describe a namespace.
    addFormats: (require('ajv-formats') as { default: (ajv: Ajv2020) => Ajv2020 }).default,
  };
  const { Ajv, addFormats } = ajvModules;
  // strict:false because user schemas may carry annotations ajv does not know; no loadSchema, so a
  // remote $ref is a compile error, never a network fetch. Patterns run on RE2 (linear time): a
  // backtracking RegExp on a schema one namespace's admin wrote would block every request.
  const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: true, code: { regExp: linearRegExp } });
  addFormats(ajv);
  return ajv;
}

const compiledCache = new Map<string, ValidateFunction>();
const maxCachedValidators = 500;

function compile(schema: Record<string, unknown>, where: string): ValidateFunction {
  const text = JSON.stringify(schema);
  const id = sha256(text, 'base64url');
  const cached = compiledCache.get(id);
  if (cached) return cached;
  checkSchemaBounds(schema, where);
  let validate: ValidateFunction;
  try {
    // One Ajv per schema: an Ajv instance registers every "$id" it compiles, so a shared one would
    // refuse a second namespace's schema with the same "$id", let one namespace's schema "$ref"
    // another's, and grow without bound. Compiled validators are cached above, so this is rare.
    validate = createAjv().compile(JSON.parse(text) as Record<string, unknown>);
  } catch (cause) {
    throw new HeraldError('invalid_schema', `${where} is not a valid JSON Schema: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (compiledCache.size >= maxCachedValidators) compiledCache.clear();
  compiledCache.set(id, validate);
  return validate;
}

function toViolations(errors: readonly ErrorObject[] | null | undefined, pathPrefix: string): Violation[] {
  return (errors ?? []).map((error) => ({
    path: pathPrefix + error.instancePath,
    message: error.message ?? error.keyword,
  }));
}

/** Compiled form of a NamespaceSchema; construction fails with `invalid_schema` on a bad schema. */
export class SchemaValidator {
  readonly #document: ValidateFunction | undefined;
  readonly #prefixes: Array<{ prefix: string; validate: ValidateFunction }>;

  constructor(schema: NamespaceSchema) {
    this.#document = schema.document ? compile(schema.document, 'the document schema') : undefined;
    this.#prefixes = (schema.prefixes ?? []).map(({ prefix, schema: prefixSchema }) => ({
      prefix,
      validate: compile(prefixSchema, `the schema for prefix "${prefix}"`),
    }));
  }

  get hasDocumentSchema(): boolean {
    return this.#document !== undefined;
  }

  get isEmpty(): boolean {
    return this.#document === undefined && this.#prefixes.length === 0;
  }

  /** Violations of the prefix schemas by one value; paths start with the key. */
  valueViolations(key: string, value: unknown): Violation[] {
    const violations: Violation[] = [];
    for (const { prefix, validate } of this.#prefixes) {
      if (key.startsWith(prefix) && !validate(value)) violations.push(...toViolations(validate.errors, `${key}:`));
    }
    return violations;
  }

  /**
   * Violations of the document schema by one view (key → value): the default label alone (`label`
   * ''), or the default with `label` over it, as instances with that label receive it. Paths name
   * the key as the user wrote it (`db/pool/max`, not the JSON Pointer `/db~1pool~1max`).
   */
  documentViolations(label: string, document: Record<string, unknown>): Violation[] {
    if (!this.#document || this.#document(document)) return [];
    const where = label === '' ? '' : `[label ${label}]`;
    return (this.#document.errors ?? []).map((error) => ({
      path: [where, documentPath(error)].filter((part) => part !== '').join(' '),
      message: error.message ?? error.keyword,
    }));
  }
}

/** The key an error of the document schema is about, then the place inside its value (as valueViolations writes it). */
function documentPath(error: ErrorObject): string {
  const params = error.params as { missingProperty?: unknown; additionalProperty?: unknown };
  if (error.instancePath === '') {
    if (error.keyword === 'required' && typeof params.missingProperty === 'string') return params.missingProperty;
    if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string')
      return params.additionalProperty;
    return '';
  }
  const [, first = '', ...rest] = error.instancePath.split('/');
  const key = first.replaceAll('~1', '/').replaceAll('~0', '~');
  return rest.length === 0 ? key : `${key}:/${rest.join('/')}`;
}

export function schemaViolation(violations: Violation[]): HeraldError {
  const shown = violations
    .slice(0, 5)
    .map((v) => `${v.path || '/'} ${v.message}`)
    .join('; ');
  return new HeraldError('schema_violation', `${violations.length} schema violation(s): ${shown}`, {
    extensions: { violations: violations.slice(0, 100) },
  });
}
