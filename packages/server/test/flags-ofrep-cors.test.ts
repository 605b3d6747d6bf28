// CORS for OFREP (browsers evaluating flags from a page on another origin), over real HTTP: the
// preflight and the answers carry Access-Control-* only for a configured origin and only on the
// OFREP paths; nothing else on the server answers cross-origin; a malformed origin is refused at
// start. The browser side (chromium with @openfeature/web-sdk) is packages/cli/test/ofrep-browser.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { flagContentType } from '@herald/flags';
import { resolveServerConfig } from '@herald/server';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

const ns = 'web';
const allowed = 'http://app.example.test:3000';
const base = `/v1/namespaces/${ns}/ofrep/v1/evaluate/flags`;
let ts: TestServer;
let plain: TestServer;
let clientToken: string;

before(async () => {
  ts = await startTestServer({ config: { corsOrigins: [allowed] } });
  plain = await startTestServer();
  for (const server of [ts, plain]) {
    await createNamespace(server, ns);
    await setEntry(server, ns, 'banner', {
      value: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
      contentType: flagContentType,
    });
  }
  clientToken = (await createToken(ts, [{ namespaces: ns, role: 'client' }])).token;
});

after(async () => {
  await ts.close();
  await plain.close();
});

function preflight(server: TestServer, path: string, origin: string, method = 'POST') {
  return call(server, 'OPTIONS', path, {
    token: null,
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization,content-type,if-none-match',
    },
  });
}

void test('a configured origin gets a preflight and readable answers (ETag exposed) on both OFREP routes', async () => {
  for (const path of [base, `${base}/banner`]) {
    const answer = await preflight(ts, path, allowed);
    assert.equal(answer.status, 204, `${path}: ${answer.text}`);
    assert.equal(answer.headers.get('access-control-allow-origin'), allowed);
    assert.match(answer.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/u);
    const headers = (answer.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const name of ['authorization', 'content-type', 'if-none-match', 'herald-labels'])
      assert.ok(headers.includes(name), `${name} may be sent: ${headers}`);
    assert.equal(answer.headers.get('access-control-max-age'), '600');
    assert.match(answer.headers.get('vary') ?? '', /origin/iu);
  }
  const bulk = await call({ url: ts.url, adminToken: clientToken }, 'POST', base, {
    body: { context: { targetingKey: 'u1' } },
    headers: { origin: allowed },
  });
  assert.equal(bulk.status, 200, bulk.text);
  assert.equal(bulk.headers.get('access-control-allow-origin'), allowed);
  assert.match(bulk.headers.get('access-control-expose-headers') ?? '', /etag/iu);
  assert.ok(bulk.headers.get('etag'));
  // Refusals are readable too, so a page can tell a bad token from a network failure.
  const refused = await call({ url: ts.url, adminToken: 'not-a-token' }, 'POST', `${base}/banner`, {
    body: {},
    headers: { origin: allowed },
  });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('access-control-allow-origin'), allowed);
});

void test('other origins, other routes and a server without CORS answer without Access-Control-* headers', async () => {
  const other = await preflight(ts, base, 'http://evil.example.test');
  assert.equal(other.status, 404, other.text);
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  const evaluated = await call({ url: ts.url, adminToken: clientToken }, 'POST', base, {
    body: {},
    headers: { origin: 'http://evil.example.test' },
  });
  assert.equal(evaluated.status, 200, 'a request without CORS is answered; the browser withholds it from the page');
  assert.equal(evaluated.headers.get('access-control-allow-origin'), null);

  // The admin API is never cross-origin, even for an allowed origin.
  for (const [path, method] of [
    [`/v1/namespaces/${ns}/entries/banner`, 'PUT'],
    ['/v1/tokens', 'POST'],
    [`/v1/namespaces/${ns}/view`, 'GET'],
  ] as const) {
    const answer = await preflight(ts, path, allowed, method);
    assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
    assert.equal(answer.headers.get('access-control-allow-origin'), null, path);
  }
  const entry = await call(ts, 'GET', `/v1/namespaces/${ns}/entries/banner`, { headers: { origin: allowed } });
  assert.equal(entry.status, 200);
  assert.equal(entry.headers.get('access-control-allow-origin'), null);

  const none = await preflight(plain, base, allowed);
  assert.equal(none.status, 404);
  assert.equal(none.headers.get('access-control-allow-origin'), null);
});

void test('a malformed origin is refused by the configuration check, naming it', () => {
  for (const origin of ['https://app.example.test/', 'app.example.test', 'https://app.example.test/path', 'ftp://x']) {
    assert.throws(
      () => resolveServerConfig({ corsOrigins: [origin] }),
      (error: Error) => error.message.includes(JSON.stringify(origin)),
      origin,
    );
  }
  assert.deepEqual(resolveServerConfig({ corsOrigins: ['*', 'https://a.example.test:8443'] }).corsOrigins, [
    '*',
    'https://a.example.test:8443',
  ]);
});
