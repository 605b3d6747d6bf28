// Issue 14: a control-plane node dies (two nodes on one PostgreSQL) and the relay in front of them,
// given both as its upstreams, fails over to the other; its clients keep receiving releases made
// through the surviving node. Real `herald server --postgres` child processes, a real relay and a
// real SDK client; SIGKILL for the node.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient } from '@herald/sdk';
import { Relay } from '@herald/server';
import {
  createTestDatabase,
  eventually,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type ServerProcess,
  type TestDatabase,
} from '@herald/testkit';

delete process.env.HERALD_SECRET_KEY;
delete process.env.HERALD_POSTGRES_URL;

let db: TestDatabase;
let dir: { path: string; cleanup: () => Promise<void> };
const nodes: ServerProcess[] = [];

async function startNode(id: string, keyFile: string): Promise<ServerProcess> {
  const node = await startHeraldProcess([
    'server',
    '--postgres',
    db.url,
    '--listen',
    '127.0.0.1:0',
    '--node-id',
    id,
    '--data',
    join(dir.path, id),
    '--secret-key-file',
    keyFile,
    '--log-level',
    'error',
  ]);
  nodes.push(node);
  return node;
}

async function api<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

before(async () => {
  dir = await tempDir('herald-node-failover-');
  db = await createTestDatabase();
});

after(async () => {
  for (const node of nodes) await node.kill('SIGKILL').catch(() => undefined);
  await db?.drop().catch(() => undefined);
  await dir?.cleanup().catch(() => undefined);
});

void test('a relay given both nodes fails over when one is killed, and its clients keep receiving releases', async () => {
  const keyFile = join(dir.path, 'secret.key');
  await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const one = await startNode('node-1', keyFile);
  const two = await startNode('node-2', keyFile);
  await api(one.url, 'POST', '/v1/namespaces', { name: 'app' });
  await api(one.url, 'PUT', '/v1/namespaces/app/entries/color', { value: 'blue' });
  const keys = (await api<{ keys: PublicKeyInfo[] }>(one.url, 'GET', '/v1/keys')).keys;
  const token = async (scope: Record<string, unknown>) =>
    (
      await api<{ token: string }>(one.url, 'POST', '/v1/tokens', {
        scopes: [{ namespaces: 'app', role: 'client', ...scope }],
      })
    ).token;
  const cache = await tempDir('herald-node-failover-relay-');
  const relay = new Relay({
    upstream: `${one.url},${two.url}`,
    token: await token({ relay: true }),
    trust: keys,
    cacheDir: cache.path,
    logLevel: 'silent',
    routeWaitSeconds: 1,
  });
  await relay.listen();
  const client = new HeraldClient({
    url: relay.url,
    token: await token({}),
    instanceId: 'web-1',
    views: [{ namespace: 'app' }],
    trustedKeys: keys,
    reconnect: { baseMs: 50, capMs: 500 },
  });
  const color = () => client.values('app')?.['color'];
  try {
    await client.start();
    await client.ready();
    assert.equal(color(), 'blue');
    await one.kill('SIGKILL');
    await api(two.url, 'PUT', '/v1/namespaces/app/entries/color', { value: 'teal' });
    await eventually(() => color() === 'teal', {
      message: 'the release made through node 2 reaching the relay’s client',
      timeoutMs: 60_000,
    });
    const ready = (await (await fetch(`${relay.url}/readyz`)).json()) as { endpoint: string };
    assert.equal(ready.endpoint, `${two.url}/`);
  } finally {
    await client.close();
    await relay.close();
    await cache.cleanup();
  }
});
