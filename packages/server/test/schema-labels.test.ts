// A namespace's document schema checks what instances receive: the default label alone and the
// default with each label over it (labels are overrides), on a real server; violations name the
// key as the user wrote it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, entryPath } from './helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts.close();
});

const schema = {
  document: {
    type: 'object',
    required: ['port', 'db/pool/max'],
    properties: { port: { type: 'integer' }, 'db/pool/max': { type: 'integer', maximum: 100 } },
  },
};

function put(ns: string, key: string, value: unknown, label?: string) {
  return call(ts, 'PUT', entryPath(ns, key, label), { body: { value } });
}

void describe('a document schema and labels', () => {
  void it('accepts a one-key prod override: the default label supplies the required keys', async () => {
    const ns = 'sl-override';
    await createNamespace(ts, ns);
    assert.equal((await put(ns, 'port', 8080)).status, 200);
    assert.equal((await put(ns, 'db/pool/max', 10)).status, 200);
    const set = await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema } });
    assert.equal(set.status, 200, set.text);
    const override = await put(ns, 'db/pool/max', 40, 'prod');
    assert.equal(override.status, 200, override.text);
  });

  void it('refuses a violation visible only in the resolved prod view, naming the key as written', async () => {
    const ns = 'sl-prod-only';
    await createNamespace(ts, ns, { schema });
    const first = await call(ts, 'POST', `/v1/namespaces/${ns}/commits`, {
      body: {
        changes: [
          { op: 'set', key: 'port', value: 8080 },
          { op: 'set', key: 'db/pool/max', value: 10 },
        ],
      },
    });
    assert.equal(first.status, 201, first.text);
    const problem = assertProblem(await put(ns, 'db/pool/max', 500, 'prod'), 'schema_violation');
    assert.deepEqual(
      (problem.violations as Array<{ path: string }>).map((v) => v.path),
      ['[label prod] db/pool/max'],
    );
    assert.ok(!problem.detail.includes('~1'), problem.detail);
  });

  void it('checks every label when the default label changes: removing a required default breaks each view', async () => {
    const ns = 'sl-default';
    await createNamespace(ts, ns);
    await put(ns, 'port', 8080);
    await put(ns, 'db/pool/max', 10);
    await put(ns, 'db/pool/max', 20, 'prod');
    assert.equal((await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema } })).status, 200);
    const problem = assertProblem(await call(ts, 'DELETE', entryPath(ns, 'port')), 'schema_violation');
    assert.deepEqual((problem.violations as Array<{ path: string }>).map((v) => v.path).sort(), [
      '[label prod] port',
      'port',
    ]);
  });

  void it('refuses a new schema that a resolved label view violates', async () => {
    const ns = 'sl-new-schema';
    await createNamespace(ts, ns);
    await put(ns, 'port', 8080);
    await put(ns, 'db/pool/max', 10);
    await put(ns, 'db/pool/max', 500, 'prod');
    const problem = assertProblem(
      await call(ts, 'PUT', `/v1/namespaces/${ns}/schema`, { body: { schema } }),
      'schema_violation',
    );
    assert.deepEqual(
      (problem.violations as Array<{ path: string }>).map((v) => v.path),
      ['[label prod] db/pool/max'],
    );
  });
});
