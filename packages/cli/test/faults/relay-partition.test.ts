// A relay partitioned from its upstream: `herald server` and `herald relay` run as child
// processes, and the relay reaches the server through a TCP proxy in this test that can blackhole
// the link (it stops moving bytes in both directions and holds new connections, as a dropped
// route does; TCP delivers the held bytes once the route is back). SDK watchers on the relay must
// keep their last verified view while a change is committed upstream behind the partition, and
// converge on it, verified, after the heal. HERALD_PARTITION_CYCLES cycles (default 2),
// HERALD_PARTITION_WATCHERS watchers (default 20); prints its figures as one line of JSON.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient } from '@herald/sdk';
import { eventually, startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

const watcherCount = positive(process.env.HERALD_PARTITION_WATCHERS, 20);
const cycles = positive(process.env.HERALD_PARTITION_CYCLES, 2);
const ns = 'partition';

function positive(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  assert.match(text, /^[1-9]\d*$/u, 'must be a positive integer');
  return Number(text);
}

/** A TCP proxy that can blackhole: while partitioned, every socket is paused and new ones wait. */
class BlackholeProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #partitioned = false;

  constructor(upstreamPort: number) {
    this.#server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
        if (this.#partitioned) socket.pause();
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    assert.ok(address !== null && typeof address === 'object');
    return address.port;
  }

  partition(): void {
    this.#partitioned = true;
    for (const socket of this.#sockets) socket.pause();
  }

  heal(): void {
    this.#partitioned = false;
    for (const socket of this.#sockets) socket.resume();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

async function api<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(path, url), {
    method,
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

void test(`watchers on a relay keep their verified view through ${cycles} partitions from the upstream and converge after each heal`, async (t) => {
  const dir = await tempDir('herald-partition-');
  const server: ServerProcess = await startHeraldProcess([
    'server',
    '--data',
    join(dir.path, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'error',
  ]);
  const proxy = new BlackholeProxy(Number(new URL(server.url).port));
  const proxyPort = await proxy.listen();
  const clients: HeraldClient[] = [];
  // Set once the relay runs; the cleanup below may run before that.
  const started: { relay?: ServerProcess } = {};
  t.after(async () => {
    await Promise.allSettled(clients.map((c) => c.destroy()));
    await started.relay?.kill();
    await proxy.close();
    await server.kill();
    await dir.cleanup();
  });

  await api(server.url, 'POST', '/v1/namespaces', { name: ns });
  await api(server.url, 'PUT', `/v1/namespaces/${ns}/entries/generation`, { value: 0 });
  const { token } = await api<{ token: string }>(server.url, 'POST', '/v1/tokens', {
    scopes: [{ namespaces: '*', role: 'client' }],
  });
  const { keys } = await api<{ keys: PublicKeyInfo[] }>(server.url, 'GET', '/v1/keys');
  const trustFile = join(dir.path, 'trusted-keys.json');
  writeFileSync(trustFile, JSON.stringify({ keys }));
  const relay = await startHeraldProcess(
    [
      'relay',
      '--upstream',
      `http://127.0.0.1:${proxyPort}`,
      '--listen',
      '127.0.0.1:0',
      '--cache',
      join(dir.path, 'relay'),
      '--trust',
      trustFile,
      '--log-level',
      'error',
    ],
    { HERALD_TOKEN: token },
  );
  started.relay = relay;
  for (let i = 0; i < watcherCount; i++) {
    clients.push(
      new HeraldClient({
        url: relay.url,
        token,
        instanceId: `partition-${i}`,
        trustedKeys: keys,
        views: [{ namespace: ns }],
        reconnect: { baseMs: 100, capMs: 2000 },
      }),
    );
  }
  await Promise.all(clients.map((c) => c.start()));
  await Promise.all(clients.map((c) => c.ready({ signal: AbortSignal.timeout(120_000) })));

  const generationOf = (c: HeraldClient): unknown => c.values(ns)?.generation;
  let heldDuringPartition = 0;
  let changedDuringPartition = 0;
  let converged = 0;
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const before = cycle - 1;
    await eventually(() => clients.every((c) => generationOf(c) === before), {
      message: `every watcher holds generation ${before}`,
      timeoutMs: 120_000,
    });
    proxy.partition();
    await api(server.url, 'PUT', `/v1/namespaces/${ns}/entries/generation`, { value: cycle });
    // A window for anything that would go wrong during the partition to go wrong; nothing is
    // asserted about how long it lasts.
    await sleep(3000);
    for (const c of clients) {
      if (generationOf(c) === before) heldDuringPartition += 1;
      else changedDuringPartition += 1;
    }
    proxy.heal();
    await eventually(() => clients.every((c) => generationOf(c) === cycle), {
      message: `every watcher converged on generation ${cycle} after the heal`,
      timeoutMs: 180_000,
      intervalMs: 250,
    });
    converged += clients.length;
  }
  console.log(
    JSON.stringify({
      suite: 'fault-relay-partition',
      cases: cycles * watcherCount,
      faults: cycles,
      watchers: watcherCount,
      heldDuringPartition,
      changedDuringPartition,
      converged,
    }),
  );
  assert.equal(changedDuringPartition, 0, 'a watcher saw the change behind the partition or lost its view');
  assert.equal(converged, cycles * watcherCount);
});
