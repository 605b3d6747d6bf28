// The HTTP surface under generated input: requests built from the server's own /openapi.json
// (fast-check arbitraries made from each operation's parameter and body schemas), valid and
// mutated (wrong types, huge, empty, unicode, missing and extra fields), sent to a real server on
// port 0. Whatever comes in: never a 5xx; every 4xx is problem+json with a catalogue code and the
// catalogue's status; a refused request changes nothing in the store. HERALD_HTTP_RUNS sets the
// number of requests (300 by default).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { errorCatalogue, isErrorCode } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call, createNamespace, setEntry, storeState, type RawResponse } from './helpers.js';

const configuredRuns = Number(process.env.HERALD_HTTP_RUNS);
const numRuns = Number.isSafeInteger(configuredRuns) && configuredRuns > 0 ? configuredRuns : 300;

interface Schema {
  type?: string;
  enum?: unknown[];
  anyOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  $ref?: string;
}

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema?: Schema;
}

interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body?: Schema;
}

interface GeneratedRequest {
  operation: string;
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  mutation: string;
}

// The namespace most generated requests aim at, so that they get past "no such namespace" to
// the validation and the logic behind it.
const ns = 'fz';

/** A value that matches the schema (bounded in size). */
function valueOf(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => valueOf(s, depth)));
  switch (schema.type) {
    case 'string':
      return fc.string({
        unit: 'binary',
        minLength: schema.minLength ?? 0,
        maxLength: Math.min(schema.maxLength ?? 24, 24),
      });
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1000, max: Math.min(schema.maximum ?? 100_000, 100_000) });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(valueOf(schema.items ?? {}, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3)),
      });
    case 'object': {
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, property] of Object.entries(properties)) shape[name] = valueOf(property, depth + 1);
      const known = fc.record(shape, { requiredKeys: [...required].filter((name) => name in shape) });
      if (Object.keys(properties).length > 0 || schema.additionalProperties === false) return known;
      return fc.dictionary(fc.string({ maxLength: 8 }), depth > 2 ? fc.integer() : fc.jsonValue({ maxDepth: 2 }), {
        maxKeys: 4,
      });
    }
    default:
      return fc.jsonValue({ maxDepth: 3 });
  }
}

/** A value that is wrong for the schema in one way or another, or a hostile value of any kind. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 2 ** 53, -(2 ** 53), 1.5, '', ' ', '0', 'null', [], {}, [[[[]]]]),
  fc.constantFrom('\u0000', '\ud800', '\u202e', '../../etc/passwd', '%00', '\\', '"', '<script>', 'a'.repeat(70_000)),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.jsonValue({ maxDepth: 4 }),
);

/** A query or path parameter's text: valid for its schema, or hostile. */
function parameterText(parameter: Parameter): fc.Arbitrary<string> {
  const schema = parameter.schema ?? {};
  const valid = valueOf(schema).map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
  // A path segment longer than the router allows is finding 5 of issue 19 (see the pending cases below).
  const long = parameter.in === 'path' ? [] : ['a'.repeat(5000)];
  const wrong = fc.oneof(
    fc.constantFrom('', '-1', '0', '1.5', 'abc', 'true', '[]', '{}', '99999999999999999999', ...long),
    fc.string({ unit: 'grapheme', maxLength: 30 }),
  );
  if (parameter.in === 'path' && parameter.name === 'ns')
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant(ns) },
      { weight: 1, arbitrary: valid },
      { weight: 1, arbitrary: wrong },
    );
  return fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: wrong });
}

/** Encodes text for a URL; text that cannot be encoded (a lone surrogate) is sent as a replacement. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return encodeURIComponent(text.toWellFormed());
  }
}

/** A body for the operation: valid, with a field missing, wrong or extra, or not JSON at all. */
function bodyOf(schema: Schema): fc.Arbitrary<{ body?: string; contentType?: string; mutation: string }> {
  const json = (mutation: string) => (value: unknown) => ({ body: JSON.stringify(value), mutation });
  const valid = valueOf(schema);
  const required = schema.required ?? [];
  const names = Object.keys(schema.properties ?? {});
  const variants: Array<fc.Arbitrary<{ body?: string; contentType?: string; mutation: string }>> = [
    valid.map(json('valid')),
    valid.map(json('valid')),
    hostile.map(json('not an object')),
    fc.constant({ mutation: 'no body' }),
    fc
      .constantFrom('{', '{"a":', 'nul', '\u0000', '[1,]', '{"a":1}{"b":2}', '\xff\xfe')
      .map((body) => ({ body, mutation: 'not JSON' })),
    valid.map((value) => ({ body: JSON.stringify(value), contentType: 'text/plain', mutation: 'wrong content type' })),
    fc.constant({ body: JSON.stringify({ nested: nest(200) }), mutation: 'deeply nested' }),
    fc.constant({ body: JSON.stringify({ big: 'x'.repeat(2_000_000) }), mutation: 'huge' }),
  ];
  if (names.length > 0) {
    variants.push(
      fc.tuple(valid, fc.constantFrom(...names), hostile).map(([value, name, wrong]) => ({
        body: JSON.stringify({ ...(value as object), [name]: wrong }),
        mutation: `wrong ${name}`,
      })),
      valid.map((value) => ({
        body: JSON.stringify({ ...(value as object), unexpected: 1 }),
        mutation: 'extra field',
      })),
    );
  }
  if (required.length > 0) {
    variants.push(
      fc.tuple(valid, fc.constantFrom(...required)).map(([value, name]) => {
        const copy = { ...(value as Record<string, unknown>) };
        delete copy[name];
        return { body: JSON.stringify(copy), mutation: `missing ${name}` };
      }),
    );
  }
  return fc.oneof(...variants);
}

function nest(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

/** A whole request for one operation. */
function requestOf(operation: Operation): fc.Arbitrary<GeneratedRequest> {
  const pathParameters = operation.parameters.filter((p) => p.in === 'path');
  // `wait` holds a long poll open on purpose; it is left out so a run stays bounded.
  const queryParameters = operation.parameters.filter((p) => p.in === 'query' && p.name !== 'wait');
  const path = fc.tuple(...pathParameters.map(parameterText)).map((values) => {
    let text = operation.path;
    for (const [i, parameter] of pathParameters.entries())
      text = text.replace(`{${parameter.name}}`, encode(values[i] as string));
    return text;
  });
  const query = fc
    .tuple(...queryParameters.map((p) => fc.option(parameterText(p), { nil: undefined, freq: p.required ? 8 : 2 })))
    .map((values) =>
      queryParameters.flatMap((p, i) => (values[i] === undefined ? [] : [`${p.name}=${encode(values[i])}`])).join('&'),
    );
  const body: fc.Arbitrary<{ body?: string; contentType?: string; mutation: string }> = operation.body
    ? bodyOf(operation.body)
    : fc.constant({ mutation: 'no body' });
  return fc.tuple(path, query, body).map(([p, q, b]) => ({
    operation: `${operation.method} ${operation.path}`,
    method: operation.method,
    path: q.length > 0 ? `${p}?${q}` : p,
    ...(b.body === undefined ? {} : { body: b.body }),
    ...(b.contentType === undefined ? {} : { contentType: b.contentType }),
    mutation: b.mutation,
  }));
}

let ts: TestServer;
let operations: Operation[];

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, ns);
  for (const key of ['a', 'b/c', 'flag']) await setEntry(ts, ns, key, { value: { on: true } });
  const document = (await call(ts, 'GET', '/openapi.json')).json as {
    paths: Record<
      string,
      Record<string, { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }>
    >;
  };
  operations = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => {
      const body = op.requestBody?.content['application/json']?.schema;
      return {
        method: method.toUpperCase(),
        path: path.replace('{*}', '{wildcard}'),
        parameters: (op.parameters ?? []).map((p) => (p.name === '*' ? { ...p, name: 'wildcard' } : p)),
        ...(body === undefined ? {} : { body }),
      };
    }),
  );
});

after(() => ts.close());

/** Sends one generated request as the bootstrap admin (so authorisation is never the reason for a refusal). */
async function send(request: GeneratedRequest): Promise<RawResponse> {
  const headers: Record<string, string> = { authorization: `Bearer ${ts.adminToken}` };
  if (request.body !== undefined) headers['content-type'] = request.contentType ?? 'application/json';
  const controller = new AbortController();
  const response = await fetch(new URL(request.path, ts.url), {
    method: request.method,
    headers,
    signal: controller.signal,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  // A watch that was accepted streams until it is closed: its headers are the answer.
  if (response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    controller.abort();
    return { status: 200, headers: response.headers, text: '', json: undefined };
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** What every answer must be: no 5xx, and a 4xx is problem+json with a catalogue code and status. */
/** The error codes of the OpenFeature Remote Evaluation Protocol. */
const ofrepErrorCodes = new Set([
  'PARSE_ERROR',
  'TARGETING_KEY_MISSING',
  'INVALID_CONTEXT',
  'GENERAL',
  'FLAG_NOT_FOUND',
  'TYPE_MISMATCH',
]);

function checkAnswer(request: GeneratedRequest, response: RawResponse): void {
  const where = `${request.method} ${request.path.slice(0, 300)} (${request.mutation})`;
  assert.ok(response.status < 500, `${where}: ${response.status} ${response.text.slice(0, 300)}`);
  if (response.status < 400) return;
  // OFREP's evaluation errors have the shape its spec gives (clients parse them), not problem+json;
  // a refused credential is still a Herald problem.
  if (
    request.path.includes('/ofrep/v1/') &&
    !/^application\/problem\+json/u.test(response.headers.get('content-type') ?? '')
  ) {
    const error = response.json as { errorCode?: unknown };
    assert.ok(
      typeof error.errorCode === 'string' && ofrepErrorCodes.has(error.errorCode),
      `${where}: OFREP errorCode ${String(error.errorCode)}`,
    );
    assert.ok(response.status === 400 || response.status === 404, `${where}: OFREP status ${response.status}`);
    return;
  }
  assert.match(
    response.headers.get('content-type') ?? '',
    /^application\/problem\+json/u,
    `${where}: ${response.status} ${response.text.slice(0, 200)}`,
  );
  const problem = response.json as { code?: unknown; status?: unknown };
  assert.ok(typeof problem.code === 'string' && isErrorCode(problem.code), `${where}: code ${String(problem.code)}`);
  assert.equal(response.status, errorCatalogue[problem.code].status, `${where}: status of ${problem.code}`);
  assert.equal(problem.status, response.status, where);
}

void describe('the HTTP surface under generated requests', () => {
  void it('answers every generated request without a 5xx, with problem+json on a 4xx, and a refusal changes nothing', async () => {
    const counts = { cases: 0, valid: 0, mutated: 0, refused: 0, accepted: 0 };
    const arbitrary = fc.constantFrom(...operations).chain(requestOf);
    await fc.assert(
      fc.asyncProperty(arbitrary, async (request) => {
        counts.cases += 1;
        counts[request.mutation === 'valid' ? 'valid' : 'mutated'] += 1;
        const before = await storeState(ts);
        const response = await send(request);
        checkAnswer(request, response);
        if (response.status >= 400) {
          counts.refused += 1;
          assert.deepEqual(
            await storeState(ts),
            before,
            `${request.method} ${request.path}: a refusal changed the store`,
          );
        } else counts.accepted += 1;
      }),
      { numRuns },
    );
    console.log(JSON.stringify({ suite: 'http-surface', ...counts, operations: operations.length }));
  });
});

// Inputs that broke the server before issue 19 (500s, bodies outside the catalogue), tried
// over every operation they apply to: regression tests of issue 19's findings 3, 4 and 5.
void describe('the findings of issue 19, over every operation they apply to', () => {
  async function checkAll(requests: GeneratedRequest[]): Promise<void> {
    const failures: string[] = [];
    for (const request of requests) {
      const before = await storeState(ts);
      const response = await send(request);
      try {
        checkAnswer(request, response);
        if (response.status >= 400) assert.deepEqual(await storeState(ts), before, 'a refusal changed the store');
      } catch (error) {
        failures.push((error as Error).message.split('\n', 1)[0] ?? '');
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${requests.length} requests`);
  }

  void it('every numeric parameter is a finite integer: Infinity, -Infinity and 1e309 are refused with invalid_request', async () => {
    const requests = operations.flatMap((operation) =>
      operation.parameters
        .filter((p) => p.in === 'query' && p.schema?.type === 'integer')
        .flatMap((p) =>
          ['Infinity', '-Infinity', '1e309', 'NaN'].map((value) => ({
            operation: `${operation.method} ${operation.path}`,
            method: operation.method,
            path: `${operation.path.replace('{ns}', ns).replace('{wildcard}', 'a').replace('{command}', 'pause').replace('{id}', 'x')}?${p.name}=${value}`,
            mutation: `${p.name}=${value}`,
          })),
        ),
    );
    assert.ok(requests.length >= 6);
    await checkAll(requests);
  });

  void it('a malformed percent-encoding or an over-long segment in a path is problem+json with a catalogue code', async () => {
    const requests = operations
      .filter((operation) => operation.parameters.some((p) => p.in === 'path'))
      .flatMap((operation) =>
        ['%ZZ', '%', 'a'.repeat(5000)].map((segment) => ({
          operation: `${operation.method} ${operation.path}`,
          method: operation.method,
          path: operation.path.replace(/\{[^}]+\}/u, segment).replace(/\{[^}]+\}/gu, 'a'),
          ...(operation.body === undefined ? {} : { body: '{}' }),
          mutation: `path segment ${segment.slice(0, 10)}`,
        })),
      );
    await checkAll(requests);
  });

  void it('an oversized header block is problem+json with a catalogue code', async () => {
    const response = await fetch(new URL('/v1/namespaces', ts.url), {
      headers: { authorization: `Bearer ${ts.adminToken}`, 'x-filler': 'a'.repeat(20_000) },
    });
    const text = await response.text();
    assert.match(
      response.headers.get('content-type') ?? '',
      /^application\/problem\+json/u,
      `${response.status} ${text}`,
    );
    const problem = JSON.parse(text) as { code?: string };
    assert.ok(typeof problem.code === 'string' && isErrorCode(problem.code));
  });

  void it('a recursive schema is refused with invalid_schema, never a 500', async () => {
    const schemas = [{ document: { anyOf: [{ $ref: '#' }] } }, { prefixes: [{ prefix: 'r/', schema: { $ref: '#' } }] }];
    for (const [i, schema] of schemas.entries()) {
      const name = `recursive-${i}`;
      await createNamespace(ts, name);
      const set = await call(ts, 'PUT', `/v1/namespaces/${name}/schema`, { body: { schema } });
      assert.ok(set.status < 500, `setting ${JSON.stringify(schema)}: ${set.status} ${set.text}`);
      if (set.status === 200) {
        const write = await call(ts, 'PUT', `/v1/namespaces/${name}/entries/r%2Fx`, { body: { value: { a: 1 } } });
        assert.ok(write.status < 500, `a write under ${JSON.stringify(schema)}: ${write.status} ${write.text}`);
        assert.fail(`the recursive schema ${JSON.stringify(schema)} was accepted`);
      }
      const problem = set.json as { code?: string };
      assert.equal(problem.code, 'invalid_schema');
    }
  });
});
