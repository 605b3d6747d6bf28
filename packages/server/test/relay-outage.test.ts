// A real relay whose real upstream is stopped: the outage is logged once (no line per retry), and
// /readyz says truthfully that it serves from cache with the upstream unreachable since when.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Relay } from '@herald/server';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

const lines: Array<{ level: number; msg: string }> = [];
const logStream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n'))
      if (line.trim()) lines.push(JSON.parse(line) as { level: number; msg: string });
    done();
  },
});

let ts: TestServer;
let relay: Relay;
let cache: { path: string; cleanup: () => Promise<void> };
let client: string;

before(async () => {
  ts = await startTestServer();
  cache = await tempDir('herald-relay-outage-');
  await createNamespace(ts, 'app');
  await setEntry(ts, 'app', 'color', { value: 'blue' });
  const relayToken = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
  client = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
  relay = new Relay({
    upstream: ts.url,
    token: relayToken.token,
    trust: 'tofu',
    cacheDir: cache.path,
    logLevel: 'warn',
    logStream,
    routeWaitSeconds: 1,
  });
  await relay.listen();
});

after(async () => {
  await relay.close();
  await cache.cleanup();
});

interface Ready {
  status: string;
  upstream: string;
  unreachableSince?: string;
  detail?: string;
}

void test('an upstream outage: logged once, and /readyz says it serves from cache', async () => {
  const view = await call({ url: relay.url, adminToken: client }, 'GET', '/v1/views/app');
  assert.equal(view.status, 200, view.text);
  const healthy = (await call({ url: relay.url, adminToken: '' }, 'GET', '/readyz', { token: null })).json as Ready;
  assert.equal(healthy.upstream, 'reached');

  await ts.close();
  const ready = await eventually(
    async () => {
      const response = await call({ url: relay.url, adminToken: '' }, 'GET', '/readyz', { token: null });
      const body = response.json as Ready;
      return body.upstream === 'unreachable' && { status: response.status, body };
    },
    { message: 'the relay to notice the upstream is gone', timeoutMs: 60_000, intervalMs: 200 },
  );
  assert.equal(ready.status, 200, 'it can still serve from its cache');
  assert.equal(ready.body.status, 'ready');
  assert.match(ready.body.detail ?? '', /^serving from cache, upstream unreachable since \d{4}-\d\d-\d\dT/u);
  assert.equal(ready.body.detail, `serving from cache, upstream unreachable since ${ready.body.unreachableSince}`);
  const cached = await call({ url: relay.url, adminToken: client }, 'GET', '/v1/views/app');
  assert.equal(cached.status, 200, 'the cached view is still served');

  // Let the relay retry for a while (its route long poll retries every second or so), then count.
  await sleep(4000);
  const outageLines = lines.filter((l) => l.msg.includes('unreachable'));
  assert.equal(outageLines.length, 1, JSON.stringify(outageLines));
  assert.deepEqual(
    lines.filter((l) => l.msg === 'relay background work failed'),
    [],
    'no line per failed retry',
  );
});
