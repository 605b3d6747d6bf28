// Issue 19, finding 9: PostgreSQL that stops answering (a TCP proxy that stops forwarding without
// closing) must not hold requests: /readyz answers unready within its own deadline, a write in
// flight gets 503 with Retry-After, and after the network heals the node is ready again and no
// acknowledged write is lost. No duration is asserted: each request has a generous liveness guard,
// and what is checked is the answer it got.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PostgresStore } from '@herald/store';
import {
  createTestDatabase,
  eventually,
  startTestServer,
  TcpProxy,
  testAdminUrl,
  type TestDatabase,
  type TestServer,
} from '@herald/testkit';

let db: TestDatabase;
let proxy: TcpProxy;
let ts: TestServer;

before(async () => {
  db = await createTestDatabase();
  const target = new URL(testAdminUrl());
  proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
  const proxied = new URL(db.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const store = await PostgresStore.open({
    connectionString: proxied.toString(),
    connectionTimeoutMs: 1000,
    statementTimeoutMs: 1500,
  });
  ts = await startTestServer({ store });
});

after(async () => {
  proxy.heal();
  await ts.close();
  await proxy.close();
  await db.drop();
});

async function call(
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; retryAfter: string | null; body: string }> {
  const response = await fetch(new URL(path, ts.url), {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${ts.adminToken}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    // A liveness guard, not a timing assertion: a request held past it is the failure this test is about.
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() };
}

void describe('PostgreSQL blackholed under a running server', () => {
  void test('readiness and writes answer 503 with Retry-After; after the heal, ready and nothing acknowledged lost', async () => {
    assert.equal((await call('/v1/namespaces', { method: 'POST', body: { name: 'app' } })).status, 201);
    const acknowledged: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const put = await call(`/v1/namespaces/app/entries/k${i}`, { method: 'PUT', body: { value: i } });
      assert.ok(put.status < 300, put.body);
      acknowledged.push(`k${i}`);
    }
    assert.equal((await call('/readyz')).status, 200);

    proxy.blackhole();
    try {
      const ready = await call('/readyz');
      assert.equal(ready.status, 503, ready.body);
      assert.ok(ready.retryAfter, 'an unready answer says when to retry');
      const write = await call('/v1/namespaces/app/entries/during', { method: 'PUT', body: { value: 'x' } });
      assert.equal(write.status, 503, write.body);
      assert.ok(write.retryAfter, 'a refused write says when to retry');
      assert.match(write.body, /"code":"unavailable"/u);
    } finally {
      proxy.heal();
    }

    await eventually(async () => (await call('/readyz')).status === 200, {
      message: '/readyz to say ready after the heal',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const after = await eventually(
      async () => {
        const put = await call('/v1/namespaces/app/entries/after', { method: 'PUT', body: { value: 'y' } });
        return put.status < 300 && put;
      },
      { message: 'a write to succeed after the heal', timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.ok(after);
    acknowledged.push('after');
    const list = await call('/v1/namespaces/app/entries');
    assert.equal(list.status, 200, list.body);
    const keys = (JSON.parse(list.body) as { items: Array<{ key: string }> }).items.map((e) => e.key);
    for (const key of acknowledged) assert.ok(keys.includes(key), `acknowledged ${key} is there: ${keys.join(',')}`);
  });
});
