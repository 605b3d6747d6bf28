// Finding 6 of issue 19 (HTTP side): a connection that sent its headers and then stalled its body
// was held forever, and so was one that never finished its headers (slowloris). Both are now
// answered 408 request_timeout (problem+json) and closed after a bounded time.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call } from './helpers.js';
import { openSocket, parseRawResponse, readUntilClosed } from './raw-http.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer({ config: { headersTimeoutMs: 500, requestTimeoutMs: 1000 } });
});

after(async () => {
  await ts.close();
});

void it('a request whose body stalls is answered 408 request_timeout and closed', async () => {
  const socket = await openSocket(ts.url);
  const closed = readUntilClosed(socket);
  socket.write(
    `PUT /v1/namespaces/x/entries/k HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ts.adminToken}\r\n` +
      'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"value":',
  );
  const response = parseRawResponse(await closed);
  assert.equal(response.status, 408);
  assert.equal(response.body.code, 'request_timeout');
});

void it('headers sent a byte at a time and never finished are cut off', async () => {
  const socket = await openSocket(ts.url);
  const closed = readUntilClosed(socket);
  socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
  const drip = setInterval(() => {
    if (socket.writable) socket.write('x');
  }, 50);
  try {
    const text = await closed;
    if (text !== '') assert.equal(parseRawResponse(text).body.code, 'request_timeout');
  } finally {
    clearInterval(drip);
  }
});

void it('a long-lived response is not cut by the request timeout', async () => {
  // A long poll that answers after its wait: the request arrived whole, so the timeouts do not apply.
  const response = await call(ts, 'GET', '/healthz');
  assert.equal(response.status, 200);
});
