// The server's own output: at the default level a successful request writes nothing, a refused or
// failed one writes one line; every request is one line at debug; a slow success is a warning;
// `logFormat: 'pretty'` writes short human lines; a shutdown with requests in flight writes no
// "request aborted" lines.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { SecretCipher, systemClock } from '@herald/core';
import { createServer, ensureBootstrapAdmin, type HeraldServer, type ServerConfigInput } from '@herald/server';
import { SqliteStore, type Store } from '@herald/store';
import { tempDir, testAdminToken, testSecretKey } from '@herald/testkit';
import { call } from './helpers.js';

interface Logged {
  server: HeraldServer;
  store: Store;
  url: string;
  adminToken: string;
  /** Every line written to the log so far. */
  lines: string[];
  close(): Promise<void>;
}

let dir: { path: string; cleanup: () => Promise<void> };
let made = 0;

before(async () => {
  dir = await tempDir('herald-request-log-');
});
after(async () => {
  await dir.cleanup();
});

/** A server whose log is captured, with the default log level unless the config says otherwise. */
async function loggedServer(config: ServerConfigInput = {}): Promise<Logged> {
  made += 1;
  const store = SqliteStore.open({ path: join(dir.path, `log-${made}.db`) });
  await ensureBootstrapAdmin(store, systemClock, testAdminToken);
  const lines: string[] = [];
  const logStream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const server = createServer({
    store,
    clock: systemClock,
    cipher: new SecretCipher(testSecretKey),
    config: { port: 0, ...config },
    logStream,
  });
  const url = await server.listen();
  return {
    server,
    store,
    url,
    adminToken: testAdminToken,
    lines,
    close: async () => {
      await server.close();
      await store.close();
    },
  };
}

/** The log lines that `run` added. */
async function linesOf(ts: Logged, run: () => Promise<unknown>): Promise<string[]> {
  const before = ts.lines.length;
  await run();
  // A request's line is written once its response has been sent: give the hook its turn.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return ts.lines.slice(before);
}

void test('at the default level a successful request logs nothing and a refused one logs one line', async () => {
  const ts = await loggedServer();
  try {
    assert.equal(ts.server.config.logLevel, 'info', 'the default level');
    assert.equal((await call(ts, 'POST', '/v1/namespaces', { body: { name: 'app' } })).status, 201);
    for (const [method, path] of [
      ['GET', '/healthz'],
      ['GET', '/v1/namespaces'],
      ['GET', '/v1/namespaces/app'],
      ['GET', '/metrics'],
    ] as const) {
      const lines = await linesOf(ts, async () => assert.equal((await call(ts, method, path)).status, 200));
      assert.deepEqual(lines, [], `${method} ${path}: no line`);
    }

    const missing = await linesOf(ts, async () =>
      assert.equal((await call(ts, 'GET', '/v1/namespaces/nope')).status, 404),
    );
    assert.equal(missing.length, 1, `one line for a refused request: ${missing.join('\n')}`);
    const record = JSON.parse(missing[0] ?? '') as Record<string, unknown>;
    assert.equal(record.level, 30);
    assert.equal(record.method, 'GET');
    assert.equal(record.url, '/v1/namespaces/nope');
    assert.equal(record.status, 404);
    assert.equal(record.code, 'namespace_not_found');

    const unauthenticated = await linesOf(ts, async () =>
      assert.equal((await call(ts, 'GET', '/v1/namespaces', { token: null })).status, 401),
    );
    assert.equal(unauthenticated.length, 1);
    assert.doesNotMatch(unauthenticated[0] ?? '', new RegExp(testAdminToken, 'u'));
  } finally {
    await ts.close();
  }
});

void test('at debug every request is one line', async () => {
  const ts = await loggedServer({ logLevel: 'debug' });
  try {
    const lines = await linesOf(ts, async () => assert.equal((await call(ts, 'GET', '/v1/namespaces')).status, 200));
    const requests = lines.filter((l) => l.includes('"url":"/v1/namespaces"'));
    assert.equal(requests.length, 1, lines.join('\n'));
    assert.equal((JSON.parse(requests[0] ?? '') as { level: number }).level, 20);
  } finally {
    await ts.close();
  }
});

void test('a successful request slower than slowRequestMs is a warning', async () => {
  const ts = await loggedServer({ slowRequestMs: 1, minRevisionWaitMs: 10_000, requestDeadlineMs: 20_000 });
  try {
    assert.equal((await call(ts, 'POST', '/v1/namespaces', { body: { name: 'app' } })).status, 201);
    const revision = await ts.store.currentRevision();
    // The read waits for a revision that a commit made 50 ms later brings: it cannot take less.
    const lines = await linesOf(ts, async () => {
      const read = call(ts, 'GET', '/v1/namespaces/app', { headers: { 'herald-min-revision': String(revision + 1) } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const put = await call(ts, 'PUT', '/v1/namespaces/app/entries/k', { body: { value: 1 } });
      assert.equal(put.status, 200, put.text);
      assert.equal((await read).status, 200);
    });
    const slow = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.msg === 'slow request' && r.method === 'GET');
    assert.equal(slow.length, 1, lines.join('\n'));
    assert.equal(slow[0]?.level, 40);
    assert.equal(slow[0]?.url, '/v1/namespaces/app');
  } finally {
    await ts.close();
  }
});

void test("logFormat 'pretty' writes one short human line per record", async () => {
  const ts = await loggedServer({ logFormat: 'pretty' });
  try {
    const lines = await linesOf(ts, async () =>
      assert.equal((await call(ts, 'GET', '/v1/namespaces/nope')).status, 404),
    );
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(
      lines[0] ?? '',
      /^\d\d:\d\d:\d\d info {2}GET \/v1\/namespaces\/nope 404 [\d.]+ ms namespace_not_found: .*\(req-[0-9a-f]+\)$/u,
    );
    assert.throws(() => JSON.parse(lines[0] ?? ''), 'not JSON');
  } finally {
    await ts.close();
  }
});

void test('a shutdown with requests in flight logs no line per request', async () => {
  const ts = await loggedServer();
  assert.equal((await call(ts, 'POST', '/v1/namespaces', { body: { name: 'app' } })).status, 201);
  const port = Number(new URL(ts.url).port);
  // A write whose body is not all sent yet keeps the connection busy, so the shutdown does not
  // cut it as idle; the rest of the body comes once the shutdown has begun, followed by a second
  // request on the same connection: that one arrives while the server is closing.
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  const auth = `Host: x\r\nAuthorization: Bearer ${testAdminToken}\r\n`;
  const body = '{"value":1}';
  socket.write(
    `PUT /v1/namespaces/app/entries/k HTTP/1.1\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 3)}`,
  );
  // The write is waiting for its body once the server has logged nothing more for a moment.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const before = ts.lines.length;
  const closing = ts.close();
  socket.write(`${body.slice(3)}GET /v1/namespaces HTTP/1.1\r\n${auth}\r\n`);
  await closing;
  // The server ends the connection after its 503 (Connection: close).
  await ended;
  assert.match(received, /^HTTP\/1\.1 200/u, `the write in flight was answered: ${received}`);
  assert.match(
    received,
    /HTTP\/1\.1 503[\s\S]*"code":"shutting_down"/u,
    'the request that came while closing got a problem',
  );
  assert.deepEqual(ts.lines.slice(before), [], 'no log line at the default level');
});
