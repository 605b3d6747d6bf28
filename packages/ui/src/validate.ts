// The namespace's JSON Schema checked in the browser with the library the server uses (ajv 8,
// draft 2020-12, ajv-formats, allErrors), so an editor shows the server's own messages as you
// type. The server checks again on save; it is the authority.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { RE2JS } from 're2js';
import type { NamespaceSchema } from './types.js';
import type { Violation } from './api.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

// Patterns run on RE2 as on the server (packages/core/src/schema-limits.ts): a backtracking
// RegExp would freeze the tab on `^(a+)+$`, and a pattern RE2 refuses is refused here too.
const linearRegExp = Object.assign(
  (pattern: string) => {
    const compiled = RE2JS.compile(RE2JS.translateRegExp(pattern));
    return { test: (input: string) => compiled.test(input), toString: () => `/${pattern}/` };
  },
  { code: 'linearRegExp' },
);

function compile(schema: Record<string, unknown>): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: true, code: { regExp: linearRegExp } });
  addFormats(ajv);
  return ajv.compile(schema);
}

export class BrowserSchema {
  readonly #document: ValidateFunction | undefined;
  readonly #prefixes: Array<{ prefix: string; validate: ValidateFunction }>;

  constructor(schema: NamespaceSchema | null) {
    this.#document = schema?.document ? compile(schema.document) : undefined;
    this.#prefixes = (schema?.prefixes ?? []).map(({ prefix, schema: s }) => ({ prefix, validate: compile(s) }));
  }

  get hasDocumentSchema(): boolean {
    return this.#document !== undefined;
  }

  /** Violations of the prefix schemas by one value; paths as the server writes them (`key:/path`). */
  valueViolations(key: string, value: unknown): Violation[] {
    const out: Violation[] = [];
    for (const { prefix, validate } of this.#prefixes) {
      if (key.startsWith(prefix) && !validate(value)) {
        for (const e of validate.errors ?? [])
          out.push({ path: `${key}:${e.instancePath}`, message: e.message ?? e.keyword });
      }
    }
    return out;
  }

  /** Violations of the document schema by the view of one label (the default with it over it); paths as the server writes them. */
  documentViolations(label: string, document: Record<string, unknown>): Violation[] {
    if (!this.#document || this.#document(document)) return [];
    const where = label === '' ? '' : `[label ${label}]`;
    return (this.#document.errors ?? []).map((e) => ({
      path: [where, documentPath(e)].filter((part) => part !== '').join(' '),
      message: e.message ?? e.keyword,
    }));
  }
}

/** The key as the user wrote it (`db/pool/max`, not `/db~1pool~1max`), then the place inside its value. */
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
