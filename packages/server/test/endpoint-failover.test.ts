// Issue 14, endpoints and failover: a real HeraldClient given [relay A, relay B, control plane]
// follows releases through A; when A dies it fails over to B and keeps receiving; when A is back
// and has stayed ready, it fails back to A. Every endpoint serves the same signed releases, so
// the client's values never go backwards (no lower seq is ever accepted), whichever it uses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient, type ClientStatus } from '@herald/sdk';
import { Relay } from '@herald/server';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { createNamespace, createToken, setEntry } from './helpers.js';

let ts: TestServer;
let relayToken: string;
let clientToken: string;
let keys: PublicKeyInfo[];
const folders: Array<{ path: string; cleanup: () => Promise<void> }> = [];
const relays: Relay[] = [];

async function startRelay(port = 0, upstream = ts.url): Promise<Relay> {
  const cache = await tempDir('herald-failover-relay-');
  folders.push(cache);
  const relay = new Relay({
    upstream,
    upstreamFailbackAfterMs: 1500,
    upstreamProbeIntervalMs: 250,
    token: relayToken,
    trust: keys,
    cacheDir: cache.path,
    port,
    logLevel: 'silent',
    routeWaitSeconds: 1,
    heartbeatMs: 500,
  });
  await relay.listen();
  relays.push(relay);
  return relay;
}

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, 'app');
  await setEntry(ts, 'app', 'color', { value: 'blue' });
  keys = (await ts.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
  // The relays share one credential, as the relays of a region do: an instance moving between
  // them stays the same reporter's.
  relayToken = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
  clientToken = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
});

after(async () => {
  for (const relay of relays) await relay.destroy();
  await ts.close();
  for (const folder of folders) await folder.cleanup();
});

void test('fails over from a dead relay to the next endpoint and back once the relay has stayed ready', async () => {
  const a = await startRelay();
  const b = await startRelay();
  const aUrl = `${a.url}/`;
  const aPort = Number(new URL(aUrl).port);
  const statuses: ClientStatus[] = [];
  const seqs: number[] = [];
  const client = new HeraldClient({
    url: [a.url, b.url, ts.url],
    token: clientToken,
    instanceId: 'web-1',
    views: [{ namespace: 'app' }],
    trustedKeys: keys,
    reconnect: { baseMs: 50, capMs: 500 },
    failover: { failbackAfterMs: 1500, probeIntervalMs: 250 },
  });
  void (async () => {
    for await (const status of client.status()) statuses.push(status);
  })();
  void (async () => {
    for await (const change of client.changes()) seqs.push(change.current.seq);
  })();
  try {
    await client.start();
    await client.ready();
    assert.equal(client.upstream().endpoint, aUrl);
    const color = () => client.values('app')?.['color'];

    await setEntry(ts, 'app', 'color', { value: 'green' });
    await eventually(() => color() === 'green', { message: 'green through relay A', timeoutMs: 30_000 });

    await a.destroy();
    await eventually(() => client.upstream().endpoint === `${b.url}/` && client.upstream().connected, {
      message: 'the failover to relay B',
      timeoutMs: 30_000,
    });
    const failover = statuses.find((s) => s.type === 'failover');
    assert.ok(failover && failover.type === 'failover');
    assert.equal(failover.from, aUrl);
    assert.equal(failover.to, `${b.url}/`);
    await setEntry(ts, 'app', 'color', { value: 'red' });
    await eventually(() => color() === 'red', { message: 'red through relay B', timeoutMs: 30_000 });

    const back = await startRelay(aPort);
    await eventually(() => client.upstream().endpoint === `${back.url}/` && client.upstream().connected, {
      message: 'the failback to relay A',
      timeoutMs: 30_000,
    });
    const failback = statuses.find((s) => s.type === 'failback');
    assert.ok(failback && failback.type === 'failback');
    assert.equal(failback.to, `${back.url}/`);
    await setEntry(ts, 'app', 'color', { value: 'violet' });
    await eventually(() => color() === 'violet', { message: 'violet through relay A again', timeoutMs: 30_000 });

    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
      'no endpoint ever moved the client backwards',
    );
    assert.ok(!statuses.some((s) => s.type === 'rejected'), 'every endpoint served views the client verified');
  } finally {
    await client.close();
  }
});

void test('an endpoint that refuses connections is passed over at once for the next', async () => {
  const dead = await startRelay();
  const deadUrl = dead.url;
  await dead.destroy();
  const client = new HeraldClient({
    url: `${deadUrl},${ts.url}`,
    token: clientToken,
    instanceId: 'web-2',
    views: [{ namespace: 'app' }],
    trustedKeys: keys,
    reconnect: { baseMs: 50, capMs: 500 },
  });
  try {
    await client.start();
    await client.ready();
    await eventually(() => client.upstream().connected, {
      message: 'connected to the control plane',
      timeoutMs: 30_000,
    });
    assert.equal(client.upstream().endpoint, `${ts.url}/`);
  } finally {
    await client.close();
  }
});

void test('a relay given [relay, control plane] as upstreams fails over when its relay dies, and back', async () => {
  const parent = await startRelay();
  const parentUrl = `${parent.url}/`;
  const parentPort = Number(new URL(parentUrl).port);
  const child = await startRelay(0, `${parent.url},${ts.url}`);
  const readyz = async () =>
    (await (await fetch(`${child.url}/readyz`)).json()) as {
      endpoint: string;
      upstream: string;
      endpointSince: string;
    };
  const client = new HeraldClient({
    url: child.url,
    token: clientToken,
    instanceId: 'web-3',
    views: [{ namespace: 'app' }],
    trustedKeys: keys,
    reconnect: { baseMs: 50, capMs: 500 },
  });
  const color = () => client.values('app')?.['color'];
  /** The failover gauges: the endpoint followed (origin) and since when (seconds). */
  const gauges = async () => {
    const text = await (await fetch(`${child.url}/metrics`)).text();
    const endpoints = [...text.matchAll(/^herald_relay_upstream_endpoint\{endpoint="([^"]+)"\} 1$/gmu)].map(
      (m) => m[1],
    );
    const since = Number(/^herald_relay_upstream_endpoint_since_seconds (\S+)$/mu.exec(text)?.[1]);
    return { endpoints, since };
  };
  try {
    await client.start();
    await client.ready();
    assert.equal((await readyz()).endpoint, parentUrl);
    assert.deepEqual((await gauges()).endpoints, [parent.url]);

    await parent.destroy();
    await setEntry(ts, 'app', 'color', { value: 'orange' });
    await eventually(() => color() === 'orange', { message: 'orange through the control plane', timeoutMs: 30_000 });
    const after = await readyz();
    assert.equal(after.endpoint, `${ts.url}/`);
    const moved = await gauges();
    assert.deepEqual(moved.endpoints, [ts.url], 'the metric names the control plane now');
    assert.equal(moved.since * 1000, Date.parse(after.endpointSince), 'since the failover, as /readyz says');

    await startRelay(parentPort);
    await eventually(async () => (await readyz()).endpoint === parentUrl, {
      message: 'the relay back on its preferred upstream',
      timeoutMs: 30_000,
    });
    await setEntry(ts, 'app', 'color', { value: 'indigo' });
    await eventually(() => color() === 'indigo', { message: 'indigo through both relays', timeoutMs: 30_000 });
  } finally {
    await client.close();
  }
});
