// /openapi.json must describe what the server does: every route fastify has registered is in it
// (and nothing else), and for a sample of real requests across every route family the operation,
// its query parameters and the status answered are documented, with the documented required
// members present in the body.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import {
  call,
  createNamespace,
  createToken,
  entryPath,
  setEntry,
  type RawOptions,
  type RawResponse,
} from './helpers.js';

interface Operation {
  parameters?: Array<{ name: string; in: string }>;
  responses: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
}
interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  required?: string[];
  properties?: Record<string, JsonSchema>;
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

let ts: TestServer;
let doc: OpenApiDocument;

before(async () => {
  ts = await startTestServer();
  const response = await call(ts, 'GET', '/openapi.json', { token: null });
  assert.equal(response.status, 200, response.text);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/u);
  doc = response.json as OpenApiDocument;
});

after(async () => {
  await ts.close();
});

/** fastify's `/v1/namespaces/:ns/entries/*` is OpenAPI's `/v1/namespaces/{ns}/entries/{*}`. */
function toOpenApiPath(route: string): string {
  return route.replace(/:([A-Za-z0-9_]+)/gu, '{$1}').replace(/\*$/u, '{*}');
}

/**
 * Every (method, path) fastify has registered, read from `printRoutes({ commonPrefix: true })`:
 * a radix tree whose node labels, concatenated from the root, spell each route.
 */
function registeredRoutes(): Array<{ method: string; path: string }> {
  const tree = ts.server.app.printRoutes({ commonPrefix: true });
  const stack: string[] = [];
  const routes: Array<{ method: string; path: string }> = [];
  for (const line of tree.split('\n')) {
    const at = line.indexOf('── ');
    if (at < 0) continue;
    const depth = (at - 1) / 4;
    assert.ok(Number.isInteger(depth), `unexpected printRoutes line: ${line}`);
    const match = /^(\S+)(?: \(([^)]*)\))?/u.exec(line.slice(at + 3));
    assert.ok(match?.[1], `unexpected printRoutes line: ${line}`);
    stack.length = depth;
    stack.push(match[1]);
    for (const method of (match[2] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean))
      routes.push({ method, path: stack.join('') });
  }
  return routes;
}

function resolve(schema: JsonSchema | undefined): JsonSchema | undefined {
  if (!schema?.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  return doc.components?.schemas?.[name];
}

void describe('/openapi.json', () => {
  void it('is an OpenAPI 3.x document with paths, the problem schema and bearer security', () => {
    assert.match(doc.openapi, /^3\.\d+\.\d+$/u);
    assert.equal(typeof doc.info.title, 'string');
    assert.ok(Object.keys(doc.paths).length >= 15, `${Object.keys(doc.paths).length} paths`);
    const problem = doc.components?.schemas?.Problem;
    assert.deepEqual([...(problem?.required ?? [])].sort(), ['code', 'detail', 'instance', 'status', 'title', 'type']);
  });

  void it('lists every route fastify has registered (but HEAD and OPTIONS), and no route that does not exist', () => {
    const routes = registeredRoutes().filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS');
    assert.ok(routes.length >= 20, `found ${routes.length} routes in printRoutes`);
    for (const route of routes) {
      const path = toOpenApiPath(route.path);
      assert.ok(
        doc.paths[path]?.[route.method.toLowerCase()],
        `${route.method} ${route.path} (${path}) is not in /openapi.json`,
      );
    }
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const method of Object.keys(operations)) {
        const url = path.replace(/\{\*\}$/u, '*').replace(/\{([^}]+)\}/gu, ':$1');
        assert.ok(
          ts.server.app.hasRoute({ method: method.toUpperCase(), url }),
          `/openapi.json documents ${method} ${path}, which is not a route`,
        );
        assert.ok(
          routes.some((r) => r.method === method.toUpperCase() && r.path === url),
          `${method} ${path} is documented but not registered`,
        );
      }
    }
  });

  void it('documents a problem+json answer for the errors of every operation', () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const clientError = operation.responses['4XX'] ?? operation.responses.default;
        assert.ok(clientError, `${method} ${path} documents no 4xx answer`);
        assert.equal(
          resolve(clientError.content?.['application/problem+json']?.schema),
          doc.components?.schemas?.Problem,
          `${method} ${path}`,
        );
      }
    }
  });

  void it('matches a sample of real requests across every route family: operation, query parameters, status and body', async () => {
    await createNamespace(ts, 'oas');
    const first = await setEntry(ts, 'oas', 'db/pool', { value: 1 });
    const reader = await createToken(ts, [{ namespaces: 'oas', role: 'reader' }]);
    const revocable = await createToken(ts, [{ namespaces: 'oas', role: 'reader' }]);

    const samples: Array<{ method: string; route: string; path: string; options?: RawOptions; status: number }> = [
      { method: 'GET', route: '/healthz', path: '/healthz', status: 200 },
      { method: 'GET', route: '/readyz', path: '/readyz', status: 200 },
      { method: 'GET', route: '/metrics', path: '/metrics', status: 200 },
      { method: 'GET', route: '/v1/namespaces', path: '/v1/namespaces?limit=10', status: 200 },
      { method: 'GET', route: '/v1/namespaces', path: '/v1/namespaces', options: { token: null }, status: 401 },
      {
        method: 'POST',
        route: '/v1/namespaces',
        path: '/v1/namespaces',
        options: { body: { name: 'oas-2', description: 'two' } },
        status: 201,
      },
      {
        method: 'POST',
        route: '/v1/namespaces',
        path: '/v1/namespaces',
        options: { body: { name: 'oas-2' } },
        status: 409,
      },
      { method: 'GET', route: '/v1/namespaces/:ns', path: '/v1/namespaces/oas', status: 200 },
      { method: 'GET', route: '/v1/namespaces/:ns', path: '/v1/namespaces/missing', status: 404 },
      {
        method: 'PUT',
        route: '/v1/namespaces/:ns/schema',
        path: '/v1/namespaces/oas/schema',
        options: { body: { schema: { prefixes: [] } } },
        status: 200,
      },
      { method: 'GET', route: '/v1/namespaces/:ns/schema', path: '/v1/namespaces/oas/schema', status: 200 },
      {
        method: 'PUT',
        route: '/v1/namespaces/:ns/entries/*',
        path: entryPath('oas', 'db/pool', 'prod'),
        options: { body: { value: 2 } },
        status: 200,
      },
      {
        method: 'PUT',
        route: '/v1/namespaces/:ns/entries/*',
        path: entryPath('oas', 'x'),
        options: { body: { value: 2, bogus: 1 } },
        status: 400,
      },
      {
        method: 'PUT',
        route: '/v1/namespaces/:ns/entries/*',
        path: entryPath('oas', 'x'),
        options: { token: reader.token, body: { value: 2 } },
        status: 403,
      },
      { method: 'GET', route: '/v1/namespaces/:ns/entries/*', path: entryPath('oas', 'db/pool'), status: 200 },
      {
        method: 'GET',
        route: '/v1/namespaces/:ns/entries/*',
        path: entryPath('oas', 'db/pool'),
        options: { headers: { 'if-none-match': `"${first.etag}"` } },
        status: 304,
      },
      {
        method: 'GET',
        route: '/v1/namespaces/:ns/entries',
        path: '/v1/namespaces/oas/entries?prefix=db&label=prod&limit=5',
        status: 200,
      },
      { method: 'PUT', route: '/v1/namespaces/:ns/locks/*', path: '/v1/namespaces/oas/locks/db%2Fpool', status: 200 },
      {
        method: 'PUT',
        route: '/v1/namespaces/:ns/entries/*',
        path: entryPath('oas', 'db/pool'),
        options: { body: { value: 3 } },
        status: 409,
      },
      {
        method: 'DELETE',
        route: '/v1/namespaces/:ns/locks/*',
        path: '/v1/namespaces/oas/locks/db%2Fpool',
        status: 200,
      },
      {
        method: 'POST',
        route: '/v1/namespaces/:ns/commits',
        path: '/v1/namespaces/oas/commits',
        options: {
          body: {
            message: 'm',
            changes: [
              { op: 'set', key: 'a', value: 1 },
              { op: 'set', key: 'b', value: 'b', contentType: 'text/plain' },
            ],
          },
        },
        status: 201,
      },
      {
        method: 'POST',
        route: '/v1/namespaces/:ns/commits',
        path: '/v1/namespaces/oas/commits',
        options: { body: { changes: [{ op: 'set', key: 'a', value: 1, ifAbsent: true }] } },
        status: 412,
      },
      { method: 'DELETE', route: '/v1/namespaces/:ns/entries/*', path: entryPath('oas', 'b'), status: 200 },
      {
        method: 'GET',
        route: '/v1/namespaces/:ns/history',
        path: '/v1/namespaces/oas/history?order=oldest&limit=2',
        status: 200,
      },
      {
        method: 'GET',
        route: '/v1/namespaces/:ns/history',
        path: '/v1/namespaces/oas/history?key=a&label=',
        status: 200,
      },
      {
        method: 'GET',
        route: '/v1/namespaces/:ns/diff',
        path: `/v1/namespaces/oas/diff?from=${first.revision}&key=a`,
        status: 200,
      },
      {
        method: 'POST',
        route: '/v1/namespaces/:ns/revert',
        path: '/v1/namespaces/oas/revert',
        options: { body: { revision: first.revision, dryRun: true } },
        status: 200,
      },
      {
        method: 'POST',
        route: '/v1/tokens',
        path: '/v1/tokens',
        options: { body: { name: 'n', scopes: [{ namespaces: 'oas', role: 'client' }], expiresInSeconds: 60 } },
        status: 201,
      },
      { method: 'GET', route: '/v1/tokens', path: '/v1/tokens', status: 200 },
      { method: 'DELETE', route: '/v1/tokens/:id', path: `/v1/tokens/${revocable.id}`, status: 200 },
      { method: 'GET', route: '/v1/audit', path: '/v1/audit?limit=2', status: 200 },
      { method: 'GET', route: '/v1/audit/verify', path: '/v1/audit/verify', status: 200 },
      {
        method: 'POST',
        route: '/v1/compact',
        path: '/v1/compact',
        options: { body: { revision: first.revision } },
        status: 200,
      },
      { method: 'DELETE', route: '/v1/namespaces/:ns', path: '/v1/namespaces/oas-2', status: 204 },
      { method: 'GET', route: '/openapi.json', path: '/openapi.json', status: 200 },
    ];

    const families = new Set<string>();
    for (const sample of samples) {
      const response: RawResponse = await call(ts, sample.method, sample.path, sample.options);
      const what = `${sample.method} ${sample.path}`;
      assert.equal(response.status, sample.status, `${what}: ${response.text}`);
      const operation = doc.paths[toOpenApiPath(sample.route)]?.[sample.method.toLowerCase()];
      assert.ok(operation, `${what}: ${sample.method} ${sample.route} is not documented`);
      families.add(sample.route.split('/').slice(0, 4).join('/'));

      const status = String(response.status);
      const documented =
        operation.responses[status] ?? operation.responses[`${status[0]}XX`] ?? operation.responses.default;
      assert.ok(
        documented,
        `${what}: status ${status} is not documented (documented: ${Object.keys(operation.responses).join(', ')})`,
      );

      const query = new URL(sample.path, 'http://x').searchParams;
      for (const name of new Set(query.keys())) {
        assert.ok(
          operation.parameters?.some((p) => p.in === 'query' && p.name === name),
          `${what}: query parameter ${name} is not documented`,
        );
      }

      if (response.status === 304 || response.status === 204) {
        assert.equal(response.text, '', `${what}: no body`);
        continue;
      }
      const contentType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
      const media = documented.content?.[contentType];
      assert.ok(
        media,
        `${what}: answered ${contentType}, documented ${Object.keys(documented.content ?? {}).join(', ')}`,
      );
      const schema = resolve(media.schema);
      if (contentType.endsWith('json') && schema?.required) {
        const body = response.json as Record<string, unknown>;
        for (const member of schema.required)
          assert.ok(Object.hasOwn(body, member), `${what}: documented member ${member} is missing`);
      }
    }
    assert.ok(samples.length >= 10);
    for (const family of [
      '/healthz',
      '/metrics',
      '/v1/namespaces',
      '/v1/tokens',
      '/v1/audit',
      '/v1/compact',
      '/openapi.json',
    ]) {
      assert.ok(families.has(family), `no sample for ${family}`);
    }
  });
});
