// Finding 5 of issue 19: a malformed percent-encoding in a path got the framework's own JSON body
// with its own code, an oversized header block a plain 431. Every error, from the router, the
// body parser or Node's HTTP parser, is problem+json with a code from the catalogue.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { errorCatalogue, isErrorCode, type ErrorCode } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace } from './helpers.js';
import { openSocket, parseRawResponse, readUntilClosed } from './raw-http.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer({ config: { limits: { maxBodyBytes: 4096, maxValueBytes: 1024 } } });
  await createNamespace(ts, 'cat');
});

after(async () => {
  await ts.close();
});

const cases: Array<[string, string, string, Parameters<typeof call>[3], ErrorCode]> = [
  ['a malformed percent-encoding in a path', 'GET', '/v1/namespaces/%ZZ', {}, 'invalid_path'],
  ['a malformed percent-encoding in a key', 'GET', '/v1/namespaces/cat/entries/a%E0%A4%A', {}, 'invalid_path'],
  ['an unknown route', 'GET', '/v1/nothing-here', {}, 'route_not_found'],
  ['a body that is not JSON', 'PUT', '/v1/namespaces/cat/entries/k', { body: '{"value":' }, 'invalid_json'],
  [
    'a body of another content type',
    'PUT',
    '/v1/namespaces/cat/entries/k',
    { body: 'value=1', contentType: 'application/x-www-form-urlencoded' },
    'unsupported_media_type',
  ],
  [
    'a body too large',
    'PUT',
    '/v1/namespaces/cat/entries/k',
    { body: JSON.stringify({ value: 'x'.repeat(5000) }) },
    'body_too_large',
  ],
  ['an empty JSON body', 'PUT', '/v1/namespaces/cat/entries/k', { body: '' }, 'invalid_json'],
];

for (const [name, method, path, options, code] of cases) {
  void it(`${name} is problem+json ${code}`, async () => {
    assertProblem(await call(ts, method, path, options), code, name);
  });
}

async function raw(request: string | Buffer): Promise<ReturnType<typeof parseRawResponse>> {
  const socket = await openSocket(ts.url);
  const closed = readUntilClosed(socket);
  socket.write(request);
  const response = parseRawResponse(await closed);
  assert.match(response.headers, /content-type: application\/problem\+json/u);
  assert.ok(isErrorCode(String(response.body.code)), `a catalogue code: ${JSON.stringify(response.body)}`);
  assert.equal(response.status, errorCatalogue[response.body.code as ErrorCode].status);
  return response;
}

void it('an oversized header block is problem+json 431 headers_too_large', async () => {
  const response = await raw(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.equal(response.body.code, 'headers_too_large');
});

void it('bytes that are not HTTP are problem+json 400 invalid_http', async () => {
  const response = await raw('NOT HTTP AT ALL\r\n\r\n');
  assert.equal(response.body.code, 'invalid_http');
  const badHeader = await raw('GET /healthz HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n');
  assert.equal(badHeader.body.code, 'invalid_http');
});
