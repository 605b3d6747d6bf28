// Issue 18, recovery after an outage: while it waits to reconnect, the client probes /readyz and
// reconnects as soon as the control plane is back. With a backoff of about ten minutes (base and
// cap huge, the jitter pinned near its top) only the probe can bring the client back: it is
// current with a release made after the restart long before its backoff would have ended.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient, type ClientStatus, type ViewChange } from '@herald/sdk';
import { SqliteStore } from '@herald/store';
import { startTestServer, type TestServer } from '@herald/testkit';

const hugeMs = 600_000;
const probeIntervalMs = 200;

let root: string;
let store: SqliteStore;
let ts: TestServer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'herald-sdk-probe-'));
  store = SqliteStore.open({ path: join(root, 'herald.db') });
  ts = await startTestServer({ store });
});

after(async () => {
  await ts.server.close();
  await store.close();
  await rm(root, { recursive: true, force: true });
});

/** The next item of an iterator that matches; `ms` is a liveness guard, far below the backoff. */
async function next<T>(
  what: string,
  iterator: AsyncIterator<T>,
  match: (value: T) => boolean,
  ms = 60_000,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    for (;;) {
      const result = await Promise.race([iterator.next(), timeout]);
      if (result.done) throw new Error(`iterator ended before ${what}`);
      if (match(result.value)) return result.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

void it('a client whose backoff is ten minutes is back within a few probe intervals of the server restarting', async () => {
  await ts.admin.post('/v1/namespaces', { name: 'probe' });
  await ts.admin.post('/v1/namespaces/probe/commits', { changes: [{ op: 'set', key: 'v', value: 1 }] });
  const keys = (await ts.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
  const port = Number(new URL(ts.url).port);
  const client = new HeraldClient({
    url: ts.url,
    token: ts.adminToken,
    instanceId: 'probe-1',
    views: [{ namespace: 'probe' }],
    trustedKeys: keys,
    // Every jittered delay is 0.99 of its ceiling: the first reconnect waits ~594 s.
    reconnect: { baseMs: hugeMs, capMs: hugeMs, probeIntervalMs, random: () => 0.99 },
  });
  const statuses = client.status();
  const changes = client.changes();
  try {
    await client.start();
    await client.ready();
    await next('the first view', changes, () => true);

    // The control plane goes away: the client waits its (huge) backoff, probing meanwhile.
    await ts.server.close();
    const waiting = (await next('the reconnect wait', statuses, (s) => s.type === 'reconnecting')) as Extract<
      ClientStatus,
      { type: 'reconnecting' }
    >;
    assert.ok(waiting.delayMs > hugeMs / 2, `the backoff alone would wait ${waiting.delayMs} ms`);

    // Back on the same port and store, with a release made at once.
    ts = await startTestServer({ store, config: { port } });
    await ts.admin.post('/v1/namespaces/probe/commits', { changes: [{ op: 'set', key: 'v', value: 2 }] });

    const ready = (await next(
      'the probe finding the server ready',
      statuses,
      (s) => s.type === 'upstream-ready',
    )) as Extract<ClientStatus, { type: 'upstream-ready' }>;
    assert.equal(new URL(ready.endpoint).port, String(port));
    const change: ViewChange = await next('the release made after the restart', changes, (c) => c.newValues.v === 2);
    assert.equal(change.current.source, 'server');
    assert.equal(client.get<number>('probe', 'v'), 2);
  } finally {
    await client.close();
  }
});
