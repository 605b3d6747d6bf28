// A reconnect storm: a few hundred SDK watchers (real clients, verifying every view) hold a view
// from `herald server` running as a child process; the server is killed with SIGKILL, so every
// watcher loses its stream at the same moment. While it is down each watcher must keep its last
// verified view; once it is back on the same address they all reconnect at once, and each must
// converge on the change committed after the restart, verified. Repeated HERALD_STORM_CYCLES
// times (default 2) with HERALD_STORM_WATCHERS watchers (default 150); prints its figures as one
// line of JSON.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient } from '@herald/sdk';
import { eventually, startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';

const watcherCount = positive(process.env.HERALD_STORM_WATCHERS, 150);
const cycles = positive(process.env.HERALD_STORM_CYCLES, 2);
const ns = 'storm';

function positive(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  assert.match(text, /^[1-9]\d*$/u, 'must be a positive integer');
  return Number(text);
}

/** A port that was free a moment ago, so the restarted server can listen where the watchers look. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
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

void test(`${watcherCount} watchers keep their verified view through ${cycles} SIGKILLs of the server and converge after each`, async (t) => {
  const dir = await tempDir('herald-storm-');
  const data = join(dir.path, 'data');
  const port = await freePort();
  const start = (): Promise<ServerProcess> =>
    startHeraldProcess(['server', '--data', data, '--listen', `127.0.0.1:${port}`, '--log-level', 'error']);
  let server = await start();
  const clients: HeraldClient[] = [];
  t.after(async () => {
    await Promise.allSettled(clients.map((c) => c.destroy()));
    await server.kill();
    await dir.cleanup();
  });

  await api(server.url, 'POST', '/v1/namespaces', { name: ns });
  await api(server.url, 'PUT', `/v1/namespaces/${ns}/entries/generation`, { value: 0 });
  const { token } = await api<{ token: string }>(server.url, 'POST', '/v1/tokens', {
    scopes: [{ namespaces: ns, role: 'client' }],
  });
  const { keys } = await api<{ keys: PublicKeyInfo[] }>(server.url, 'GET', '/v1/keys');

  for (let i = 0; i < watcherCount; i++) {
    clients.push(
      new HeraldClient({
        url: server.url,
        token,
        instanceId: `storm-${i}`,
        trustedKeys: keys,
        views: [{ namespace: ns }],
        reconnect: { baseMs: 100, capMs: 2000 },
      }),
    );
  }
  await Promise.all(clients.map((c) => c.start()));
  await Promise.all(clients.map((c) => c.ready({ signal: AbortSignal.timeout(120_000) })));

  const generationOf = (c: HeraldClient): unknown => c.values(ns)?.generation;
  let faults = 0;
  let heldThroughOutage = 0;
  let converged = 0;
  let wrongViews = 0;
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const before = cycle - 1;
    for (const c of clients)
      assert.equal(generationOf(c), before, `cycle ${cycle}: every watcher holds generation ${before}`);
    await server.kill('SIGKILL');
    faults += 1;
    // While the server is down, nothing a watcher holds may change or vanish.
    await eventually(() => clients.every((c) => !c.upstream().connected), {
      message: 'every watcher noticed the lost stream',
      timeoutMs: 60_000,
    });
    for (const c of clients) {
      if (generationOf(c) === before) heldThroughOutage += 1;
      else wrongViews += 1;
    }
    server = await start();
    await api(server.url, 'PUT', `/v1/namespaces/${ns}/entries/generation`, { value: cycle });
    await eventually(() => clients.every((c) => generationOf(c) === cycle), {
      message: `every watcher converged on generation ${cycle}`,
      timeoutMs: 180_000,
      intervalMs: 250,
    });
    converged += clients.length;
  }
  console.log(
    JSON.stringify({
      suite: 'fault-reconnect-storm',
      cases: cycles * watcherCount,
      faults,
      watchers: watcherCount,
      heldThroughOutage,
      converged,
      wrongViewsHeld: wrongViews,
    }),
  );
  assert.equal(wrongViews, 0, 'a watcher lost or changed its view while the server was down');
  assert.equal(converged, cycles * watcherCount);
});
