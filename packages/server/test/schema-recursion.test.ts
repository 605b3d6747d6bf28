// Finding 3 of issue 19: a recursive schema was accepted and then every matching write was a 500
// (stack overflow), and `{"document":{"anyOf":[{"$ref":"#"}]}}` was a 500 at schema-set time.
// Now a schema that could not finish, or could cost too much, on some value is `invalid_schema`
// when it is set, and nothing changes; a recursion that descends into the value still works.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, entryPath, storeState } from './helpers.js';

let ts: TestServer;
const ns = 'recursion';

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, ns);
  const set = await call(ts, 'PUT', entryPath(ns, 'tree/a'), { body: { value: { children: [] } } });
  assert.equal(set.status, 200, set.text);
});

after(async () => {
  await ts.close();
});

/** Eight levels of anyOf, each referring twice to the next: 2^8 evaluations of one value per level more. */
function fanOut(levels: number): Record<string, unknown> {
  const defs: Record<string, unknown> = { [`l${levels}`]: { type: 'string' } };
  for (let i = 0; i < levels; i += 1)
    defs[`l${i}`] = { anyOf: [{ $ref: `#/$defs/l${i + 1}` }, { $ref: `#/$defs/l${i + 1}` }, { minLength: 1 }] };
  return { $defs: defs, $ref: '#/$defs/l0' };
}

const refusedSchemas: Array<[string, Record<string, unknown>]> = [
  ['a prefix schema that is only a reference to itself', { prefixes: [{ prefix: 'tree/', schema: { $ref: '#' } }] }],
  ['a document schema whose anyOf refers to itself', { document: { anyOf: [{ $ref: '#' }] } }],
  [
    'a cycle through $defs and allOf',
    {
      prefixes: [
        {
          prefix: 'tree/',
          schema: {
            $defs: { a: { allOf: [{ $ref: '#/$defs/b' }] }, b: { not: { $ref: '#/$defs/a' } } },
            $ref: '#/$defs/a',
          },
        },
      ],
    },
  ],
  [
    'a cycle through an $anchor',
    { prefixes: [{ prefix: 'tree/', schema: { $anchor: 'me', if: { type: 'object' }, then: { $ref: '#me' } } }] },
  ],
  ['an exponential fan-out of references', { prefixes: [{ prefix: 'tree/', schema: fanOut(20) }] }],
];

for (const [name, schema] of refusedSchemas) {
  void it(`refuses ${name} with invalid_schema when set, and changes nothing`, async () => {
    const before = await storeState(ts);
    assertProblem(await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema } }), 'invalid_schema', name);
    assertProblem(
      await call(ts, 'POST', '/v1/namespaces', { body: { name: 'recursion-new', schema } }),
      'invalid_schema',
      `${name} (at creation)`,
    );
    assert.deepEqual(await storeState(ts), before);
    // Writes go on as before.
    const write = await call(ts, 'PUT', entryPath(ns, 'tree/b'), { body: { value: { children: [] } } });
    assert.equal(write.status, 200, write.text);
  });
}

void it('accepts a recursive schema that descends into the value, and checks writes with it', async () => {
  const tree = {
    type: 'object',
    properties: { children: { type: 'array', items: { $ref: '#' } } },
    required: ['children'],
  };
  const set = await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, {
    body: { schema: { prefixes: [{ prefix: 'tree/', schema: tree }] } },
  });
  assert.equal(set.status, 200, set.text);
  const good = await call(ts, 'PUT', entryPath(ns, 'tree/c'), {
    body: { value: { children: [{ children: [{ children: [] }] }] } },
  });
  assert.equal(good.status, 200, good.text);
  assertProblem(
    await call(ts, 'PUT', entryPath(ns, 'tree/d'), { body: { value: { children: [{ children: [{}] }] } } }),
    'schema_violation',
  );
  const small = await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, {
    body: { schema: { prefixes: [{ prefix: 'tree/', schema: fanOut(3) }] } },
  });
  assert.equal(small.status, 200, `a small fan-out is accepted: ${small.text}`);
});
