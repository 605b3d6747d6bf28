// Issue 14, a region's link goes silent: a relay's long poll sent into a link that then drops
// everything waits for its own timeout (its wait plus the upstream timeout) before the relay asks
// again, and after the link is back, a connection that lost its state on the way (stranded)
// never answers. The relay cuts its long polls as soon as it finds the upstream unreachable (any
// request of its own timing out) and asks again at once while it is: once the link is back, it
// follows on a new connection. Here the poll would wait 61 s; the new release must arrive well
// before that, through a TCP proxy that blackholes and then heals stranding the old connections.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import { eventually, startTestServer, TcpProxy, tempDir, type TestServer } from '@herald/testkit';
import { Relay } from '../src/index.js';
import { createNamespace } from './helpers.js';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
let ts: TestServer;
let proxy: TcpProxy;
let relay: Relay;
let dir: { path: string; cleanup: () => Promise<void> };
let clientToken: string;

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, 'app');
  await ts.admin.put('/v1/namespaces/app/entries/color', { value: 'blue' });
  clientToken = (
    await ts.admin.post<{ token: string }>('/v1/tokens', { scopes: [{ namespaces: 'app', role: 'client' }] })
  ).token;
  proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(ts.url).port) });
  dir = await tempDir('herald-relay-silent-');
  relay = new Relay({
    upstream: `http://127.0.0.1:${proxy.port}`,
    token: clientToken,
    trust: 'tofu',
    cacheDir: join(dir.path, 'relay'),
    port: 0,
    logLevel: 'silent',
    logStream: silent,
    // A long poll of 60 s would end at 61 s; the relay's own requests (key refreshes) time out at 1 s.
    routeWaitSeconds: 60,
    upstreamTimeoutMs: 1000,
    keyRefreshMs: 300,
  });
  await relay.listen();
});

after(async () => {
  await relay?.close();
  await proxy?.close();
  await ts?.close();
  await dir?.cleanup();
});

async function seqAtRelay(): Promise<number> {
  const response = await fetch(new URL('/v1/views/app', relay.url), {
    headers: { authorization: `Bearer ${clientToken}` },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { manifest: { seq: number } }).manifest.seq;
}

async function upstreamState(): Promise<string> {
  const response = await fetch(new URL('/readyz', relay.url), { signal: AbortSignal.timeout(10_000) });
  return ((await response.json()) as { upstream: string }).upstream;
}

void it('a relay whose long poll went into a silent link follows again once the link is back', async () => {
  const first = await seqAtRelay();
  // The relay follows the namespace now: its long poll is in flight through the proxy.
  proxy.blackhole();
  await eventually(async () => (await upstreamState()) === 'unreachable', {
    message: 'the relay to find its upstream unreachable',
    timeoutMs: 20_000,
  });
  await ts.admin.put('/v1/namespaces/app/entries/color', { value: 'green' });
  proxy.heal({ strand: true });
  const next = await eventually(async () => ((await seqAtRelay()) > first ? seqAtRelay() : undefined), {
    message: 'the relay on the new release, well before its old long poll would have ended (61 s)',
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  assert.ok(next > first);
  assert.equal(await upstreamState(), 'reached');
});
