import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldError, SchemaValidator, schemaViolation, type NamespaceSchema, type Violation } from '../src/index.js';

function construct(schema: NamespaceSchema): HeraldError | undefined {
  try {
    new SchemaValidator(schema);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof HeraldError, String(error));
    return error;
  }
}

void describe('SchemaValidator construction', () => {
  void test('an empty schema validates nothing', () => {
    const validator = new SchemaValidator({});
    assert.equal(validator.isEmpty, true);
    assert.equal(validator.hasDocumentSchema, false);
    assert.deepEqual(validator.valueViolations('any', { x: 1 }), []);
    assert.deepEqual(validator.documentViolations('', { any: 1 }), []);
    assert.equal(new SchemaValidator({ prefixes: [] }).isEmpty, true);
  });

  void test('reports what it holds', () => {
    const doc = new SchemaValidator({ document: { type: 'object' } });
    assert.equal(doc.isEmpty, false);
    assert.equal(doc.hasDocumentSchema, true);
    const prefixOnly = new SchemaValidator({ prefixes: [{ prefix: 'a', schema: { type: 'string' } }] });
    assert.equal(prefixOnly.isEmpty, false);
    assert.equal(prefixOnly.hasDocumentSchema, false);
  });

  void test('an invalid document schema is invalid_schema', () => {
    for (const document of [
      { type: 'nonsense' },
      { minimum: 'x' },
      { properties: 5 },
      { required: 'a' },
      { type: 'object', additionalProperties: 'no' },
    ]) {
      const error = construct({ document });
      assert.equal(error?.code, 'invalid_schema', JSON.stringify(document));
      assert.equal(error?.status, 400);
      assert.match(error?.message ?? '', /document schema/u);
    }
  });

  void test('an invalid prefix schema is invalid_schema naming the prefix', () => {
    const error = construct({
      prefixes: [
        { prefix: 'ok/', schema: { type: 'string' } },
        { prefix: 'db/', schema: { type: 12 } },
      ],
    });
    assert.equal(error?.code, 'invalid_schema');
    assert.match(error?.message ?? '', /prefix "db\/"/u);
  });

  void test('an unresolvable local $ref is invalid_schema', () => {
    assert.equal(construct({ document: { $ref: '#/$defs/missing' } })?.code, 'invalid_schema');
  });
});

void describe('remote $ref', () => {
  const realFetch = globalThis.fetch;
  let fetched: string[] = [];
  beforeEach(() => {
    fetched = [];
    globalThis.fetch = async (input) => {
      fetched.push(input instanceof Request ? input.url : input.toString());
      throw new Error('no network in tests');
    };
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  void test('a remote $ref is a compile error, not a fetch', () => {
    for (const schema of [
      { $ref: 'https://example.com/schemas/config.json' },
      { type: 'object', properties: { a: { $ref: 'http://127.0.0.1:9/x.json#/defs/a' } } },
    ]) {
      const error = construct({ document: schema });
      assert.equal(error?.code, 'invalid_schema');
      assert.match(error?.message ?? '', /resolve reference/u);
      assert.equal(construct({ prefixes: [{ prefix: 'p', schema }] })?.code, 'invalid_schema');
    }
    assert.deepEqual(fetched, []);
  });

  void test('local $ref and $defs work', () => {
    const validator = new SchemaValidator({
      document: {
        $defs: { port: { type: 'integer', minimum: 1, maximum: 65535 } },
        type: 'object',
        properties: { port: { $ref: '#/$defs/port' } },
      },
    });
    assert.deepEqual(validator.documentViolations('', { port: 80 }), []);
    assert.equal(validator.documentViolations('', { port: 70000 }).length, 1);
    assert.deepEqual(fetched, []);
  });
});

void describe('schemas are isolated from one another', () => {
  void test('two namespaces may use schemas with the same $id', () => {
    // Schemas are often copied with their "$id"; one namespace's schema must not block another's.
    const id = 'https://example.com/config.schema.json';
    const a = new SchemaValidator({ document: { $id: id, type: 'object', required: ['a'] } });
    const b = new SchemaValidator({ document: { $id: id, type: 'object', required: ['b'] } });
    assert.equal(a.documentViolations('', { b: 1 }).length, 1);
    assert.equal(b.documentViolations('', { b: 1 }).length, 0);
    assert.equal(
      new SchemaValidator({ prefixes: [{ prefix: 'x', schema: { $id: id, type: 'string' } }] }).valueViolations('x', 1)
        .length,
      1,
    );
  });

  void test("a schema cannot $ref another namespace's schema by its $id", () => {
    new SchemaValidator({
      document: {
        $id: 'https://example.com/other-team.json',
        type: 'object',
        properties: { secret: { const: 'abc' } },
      },
    });
    const error = construct({ document: { $ref: 'https://example.com/other-team.json' } });
    assert.equal(error?.code, 'invalid_schema');
  });

  void test('the same schema may be used by many validators', () => {
    const schema = { type: 'object', required: ['x'] };
    const validators = Array.from({ length: 3 }, () => new SchemaValidator({ document: structuredClone(schema) }));
    for (const v of validators) assert.equal(v.documentViolations('', {}).length, 1);
  });
});

void describe('document violations', () => {
  const validator = new SchemaValidator({
    document: {
      type: 'object',
      required: ['db/host', 'db/port'],
      properties: {
        'db/host': { type: 'string' },
        'db/port': { type: 'integer', minimum: 1 },
        features: { type: 'object', properties: { beta: { type: 'boolean' } } },
      },
      additionalProperties: false,
    },
  });

  void test('a valid document has no violations', () => {
    assert.deepEqual(validator.documentViolations('', { 'db/host': 'h', 'db/port': 5432 }), []);
  });

  // Issue 13: paths name the key as the user wrote it, not as a JSON Pointer (`db/port`, not `/db~1port`).
  void test('every violation is listed with the key as written, then the path inside its value', () => {
    const violations = validator.documentViolations('', { 'db/port': 0, features: { beta: 'yes' }, extra: 1 });
    const at = (path: string): string =>
      violations
        .filter((v) => v.path === path)
        .map((v) => v.message)
        .join(' | ');
    assert.match(at('db/host'), /required property 'db\/host'/u);
    assert.match(at('extra'), /additional properties/u);
    assert.match(at('db/port'), />= 1/u);
    assert.match(at('features:/beta'), /boolean/u);
    assert.equal(violations.length, 4, JSON.stringify(violations));
  });

  void test('paths name the label when there is one', () => {
    const violations = validator.documentViolations('prod', { 'db/host': 'h', 'db/port': 'x' });
    assert.deepEqual(
      violations.map((v) => v.path),
      ['[label prod] db/port'],
    );
    assert.deepEqual(
      validator.documentViolations('prod', {}).map((v) => v.path),
      ['[label prod] db/host', '[label prod] db/port'],
    );
  });

  void test('each call reports its own violations', () => {
    assert.equal(validator.documentViolations('', {}).length, 2);
    assert.deepEqual(validator.documentViolations('', { 'db/host': 'h', 'db/port': 1 }), []);
    assert.equal(validator.documentViolations('', { 'db/host': 1, 'db/port': 1 }).length, 1);
  });
});

void describe('prefix schemas', () => {
  const validator = new SchemaValidator({
    prefixes: [
      {
        prefix: 'db/',
        schema: {
          type: 'object',
          required: ['host'],
          properties: { host: { type: 'string' }, port: { type: 'integer' } },
        },
      },
      { prefix: 'db/pool/', schema: { type: 'object', properties: { max: { maximum: 100 } } } },
      { prefix: 'flags/', schema: { type: 'boolean' } },
    ],
  });

  void test('a prefix schema applies only to keys that start with the prefix', () => {
    assert.deepEqual(validator.valueViolations('cache/size', 'anything'), []);
    assert.deepEqual(validator.valueViolations('db', 'not an object'), []);
    assert.deepEqual(validator.valueViolations('xdb/host', 'not an object'), []);
    assert.deepEqual(validator.valueViolations('DB/host', 'not an object'), []);
    assert.equal(validator.valueViolations('db/main', 'not an object').length, 1);
    assert.deepEqual(validator.valueViolations('flags/beta', true), []);
    assert.deepEqual(validator.valueViolations('flags/beta', 'true'), [
      { path: 'flags/beta:', message: 'must be boolean' },
    ]);
  });

  void test('paths start with the key, then the JSON Pointer inside the value', () => {
    const violations: Violation[] = validator.valueViolations('db/main', { host: 5, port: 'x' });
    assert.deepEqual(violations.map((v) => v.path).sort(), ['db/main:/host', 'db/main:/port']);
    assert.deepEqual(
      validator.valueViolations('db/main', {}).map((v) => v.path),
      ['db/main:'],
    );
  });

  void test('every matching prefix applies', () => {
    const violations = validator.valueViolations('db/pool/main', { max: 500 });
    assert.deepEqual(violations.map((v) => v.path).sort(), ['db/pool/main:', 'db/pool/main:/max']);
  });

  void test('an empty prefix applies to every key', () => {
    const all = new SchemaValidator({ prefixes: [{ prefix: '', schema: { type: 'string' } }] });
    assert.equal(all.valueViolations('anything', 1).length, 1);
    assert.deepEqual(all.valueViolations('anything', 'ok'), []);
  });
});

void describe('formats', () => {
  const cases: Array<[string, unknown[], unknown[]]> = [
    [
      'uri',
      ['https://example.com/a?b=c', 'urn:isbn:0451450523'],
      ['not a uri', '/relative/path', 'http://exa mple.com'],
    ],
    ['email', ['ops@example.com'], ['not-an-email', '@example.com']],
    [
      'date-time',
      ['2026-01-01T00:00:00Z', '2026-01-01T12:30:00+02:00'],
      ['2026-01-01', 'yesterday', '2026-13-01T00:00:00Z'],
    ],
    ['ipv4', ['10.0.0.1'], ['10.0.0.256', '::1']],
    ['uuid', ['123e4567-e89b-12d3-a456-426614174000'], ['123e4567']],
    ['hostname', ['db.internal.example'], ['-bad-.example', 'under_score..x']],
  ];

  for (const [format, good, bad] of cases) {
    void test(`"format": "${format}" is checked`, () => {
      const validator = new SchemaValidator({ prefixes: [{ prefix: 'v', schema: { type: 'string', format } }] });
      for (const value of good)
        assert.deepEqual(validator.valueViolations('v', value), [], `${format}: ${String(value)}`);
      for (const value of bad) {
        const violations = validator.valueViolations('v', value);
        assert.equal(violations.length, 1, `${format}: ${String(value)}`);
        assert.match(violations[0]?.message ?? '', new RegExp(`must match format "${format}"`, 'u'));
      }
    });
  }

  void test('formats are checked in document schemas too', () => {
    const validator = new SchemaValidator({
      document: { type: 'object', properties: { endpoint: { type: 'string', format: 'uri' } } },
    });
    assert.deepEqual(validator.documentViolations('', { endpoint: 'https://example.com' }), []);
    assert.deepEqual(validator.documentViolations('', { endpoint: 'nope' }), [
      { path: 'endpoint', message: 'must match format "uri"' },
    ]);
  });
});

void test('JSON Schema 2020-12 keywords are understood', () => {
  const validator = new SchemaValidator({
    prefixes: [
      {
        prefix: 'pair',
        schema: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false },
      },
      { prefix: 'strict', schema: { type: 'object', properties: { a: true }, unevaluatedProperties: false } },
      { prefix: 'dep', schema: { type: 'object', dependentRequired: { user: ['password'] } } },
    ],
  });
  assert.deepEqual(validator.valueViolations('pair', ['a', 1]), []);
  assert.equal(validator.valueViolations('pair', ['a', 1, 2]).length, 1);
  assert.equal(validator.valueViolations('pair', [1, 'a']).length, 2);
  assert.equal(validator.valueViolations('strict', { a: 1, b: 2 }).length, 1);
  assert.equal(validator.valueViolations('dep', { user: 'u' }).length, 1);
});

void test('unknown annotations are tolerated', () => {
  assert.equal(
    construct({ document: { type: 'object', 'x-owner': 'team-a', description: 'd', examples: [{}] } }),
    undefined,
  );
});

void describe('schemaViolation', () => {
  void test('is a 422 schema_violation carrying the violations', () => {
    const violations = [
      { path: '/a', message: 'must be string' },
      { path: '', message: "must have required property 'b'" },
    ];
    const error = schemaViolation(violations);
    assert.equal(error.code, 'schema_violation');
    assert.equal(error.status, 422);
    assert.deepEqual(error.extensions, { violations });
    assert.match(error.message, /^2 schema violation\(s\): \/a must be string; \/ must have required property 'b'$/u);
  });

  void test('shows five in the message and carries at most 100', () => {
    const violations = Array.from({ length: 150 }, (_, i) => ({ path: `/k${i}`, message: 'bad' }));
    const error = schemaViolation(violations);
    assert.match(error.message, /^150 schema violation\(s\)/u);
    assert.ok(error.message.includes('/k4 bad'));
    assert.ok(!error.message.includes('/k5 bad'));
    assert.deepEqual(error.extensions['violations'], violations.slice(0, 100));
  });
});
