// Finding 6 of issue 19 (HTTP side): 5,000 idle connections stayed open and nothing capped them.
// Past maxConnections a new connection is answered 503 too_many_connections (problem+json, with
// Retry-After) and closed, the refusal is counted in a metric, and a slot freed is used again.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, it } from 'node:test';
import { eventually, startTestServer, type TestServer } from '@herald/testkit';
import { call } from './helpers.js';
import { openSocket, parseRawResponse, readUntilClosed } from './raw-http.js';

let ts: TestServer;
const held: Socket[] = [];

before(async () => {
  ts = await startTestServer({ config: { maxConnections: 4, maxWatchStreams: 2 } });
});

after(async () => {
  for (const socket of held) socket.destroy();
  await ts.close();
});

void it('a connection past the cap is answered 503 too_many_connections and closed, and counted', async () => {
  for (let i = 0; i < 4; i += 1) held.push(await openSocket(ts.url));
  const extra = await openSocket(ts.url);
  const response = parseRawResponse(await readUntilClosed(extra));
  assert.equal(response.status, 503);
  assert.equal(response.body.code, 'too_many_connections');
  assert.match(response.headers, /retry-after: \d+/u);
  assert.match(response.headers, /content-type: application\/problem\+json/u);
  const metrics = await ts.server.metrics.registry.getSingleMetricAsString('herald_connections_refused_total');
  assert.match(metrics, /herald_connections_refused_total 1$/mu);

  // One held connection closes: a new request gets through again.
  held.shift()?.destroy();
  await eventually(async () => (await call(ts, 'GET', '/healthz')).status === 200, {
    message: 'a freed slot is used again',
    timeoutMs: 20_000,
  });
});
