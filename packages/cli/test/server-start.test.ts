// Issue 18, restart: `herald server` binds its socket before it loads the server and opens its
// store, and answers at once while it starts: /healthz 200, /readyz 503 and a watch 503 `starting`,
// both with Retry-After. The start is held open for the test by a PostgreSQL that does not answer
// yet (a paused TCP proxy in front of the real one); once it answers, the node takes its socket
// over and serves: /readyz 200 and a watch gets its hello.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, it } from 'node:test';
import {
  createTestDatabase,
  eventually,
  spawnHerald,
  TcpProxy,
  tempDir,
  testAdminToken,
  untilHello,
  type HeraldChild,
  type TestDatabase,
} from '@herald/testkit';

let db: TestDatabase;
let proxy: TcpProxy;
let data: { path: string; cleanup: () => Promise<void> };
let node: HeraldChild | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(async () => {
  db = await createTestDatabase();
  const target = new URL(db.url);
  proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
  data = await tempDir();
});

after(async () => {
  await node?.stop('SIGKILL');
  await proxy.close();
  await db.drop();
  await data.cleanup();
});

void it('answers 503 starting with Retry-After (watch and /readyz) while it starts, then serves on the same socket', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const pgUrl = new URL(db.url);
  pgUrl.port = String(proxy.port);
  // The database does not answer until resumed: the node stays in its start, socket bound.
  proxy.pause();
  node = spawnHerald(
    [
      'server',
      '--listen',
      `127.0.0.1:${port}`,
      '--data',
      data.path,
      '--postgres',
      pgUrl.toString(),
      '--pg-connect-timeout',
      '60000',
    ],
    { HERALD_ADMIN_TOKEN: testAdminToken, HERALD_SECRET_KEY: Buffer.alloc(32, 3).toString('base64') },
  );
  const health = await eventually(
    async () => {
      const response = await fetch(`${base}/healthz`).catch(() => undefined);
      return response?.status === 200 ? ((await response.json()) as { status: string }) : undefined;
    },
    { message: 'the socket answers while the node starts', timeoutMs: 30_000 },
  );
  assert.equal(health.status, 'starting');

  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(ready.headers.get('retry-after') ?? '', /^\d+$/u);
  assert.deepEqual(await ready.json(), { status: 'starting' });

  const watchBody = JSON.stringify({ instanceId: 'early', views: [{ namespace: 'demo' }] });
  const watchHeaders = { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' };
  const early = await fetch(`${base}/v1/watch`, { method: 'POST', headers: watchHeaders, body: watchBody });
  assert.equal(early.status, 503);
  assert.equal(early.headers.get('retry-after'), '1');
  assert.match(early.headers.get('content-type') ?? '', /application\/problem\+json/u);
  assert.equal(((await early.json()) as { code: string }).code, 'starting');
  assert.ok(
    !node.stdout.some((line) => line.includes('listening on')),
    'the node had not finished starting when it answered',
  );

  // The database answers: the node finishes its start and serves on the socket it already held.
  proxy.resume();
  await node.waitForLine((line) => line.includes('listening on'), { timeoutMs: 60_000 });
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const created = await fetch(`${base}/v1/namespaces`, {
    method: 'POST',
    headers: watchHeaders,
    body: JSON.stringify({ name: 'demo' }),
  });
  assert.equal(created.status, 201);
  const controller = new AbortController();
  const watch = await fetch(`${base}/v1/watch`, {
    method: 'POST',
    headers: watchHeaders,
    body: watchBody,
    signal: controller.signal,
  });
  assert.equal(watch.status, 200);
  await untilHello(watch);
  controller.abort();
});
