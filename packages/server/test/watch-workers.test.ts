// Issue 18, watch workers: a control plane with two watch workers (real child processes) spreads
// its watch streams over both, a commit reaches every watcher, and a worker killed with SIGKILL
// loses nothing: its clients reconnect (the SDK, with what they hold), converge on the latest
// release without ever holding a wrong view, and the primary restarts the worker. A stream resumed
// through a worker gets one delta, as from a server without workers; a TLS stream stays in the
// primary (a TLS session cannot move between processes) and is served the same. Every wait is
// bounded (a liveness guard), never a timing assertion.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient, tlsFetch, type ClientStatus } from '@herald/sdk';
import { eventually, makeTestPki, RawWatch, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

let ts: TestServer;
let token: string;
let keys: PublicKeyInfo[];

before(async () => {
  ts = await startTestServer({ config: { watchWorkers: 2 } });
  await createNamespace(ts, 'app');
  await setEntry(ts, 'app', 'color', { value: 'blue' });
  keys = (await ts.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
  token = (await createToken(ts, [{ namespaces: 'app', role: 'client' }])).token;
});

after(async () => {
  await ts.close();
});

/** This process's children that run the watch worker: the server's workers (it runs in-process here). */
function workerPids(): number[] {
  const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();
  return children
    .split(/\s+/u)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('watch-worker.js');
      } catch {
        return false;
      }
    });
}

/** One sample of a metric from /metrics, by its label text (`{worker="1"}`), or undefined. */
async function metric(name: string, labels = ''): Promise<number | undefined> {
  const response = await call(ts, 'GET', '/metrics');
  const line = response.text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function perWorker(): Promise<[number | undefined, number | undefined]> {
  return [
    await metric('herald_watch_worker_streams', '{worker="1"}'),
    await metric('herald_watch_worker_streams', '{worker="2"}'),
  ];
}

void test('streams spread over both workers; a worker killed with SIGKILL loses nothing and is restarted', async () => {
  assert.equal(workerPids().length, 2, 'two worker processes run');
  const clients: HeraldClient[] = [];
  const statuses: ClientStatus[][] = [];
  const seqs: number[][] = [];
  try {
    for (let i = 0; i < 6; i += 1) {
      const client = new HeraldClient({
        url: ts.url,
        token,
        instanceId: `web-${i}`,
        views: [{ namespace: 'app' }],
        trustedKeys: keys,
        reconnect: { baseMs: 50, capMs: 500 },
      });
      const mine: ClientStatus[] = [];
      const applied: number[] = [];
      statuses.push(mine);
      seqs.push(applied);
      void (async () => {
        for await (const status of client.status()) mine.push(status);
      })();
      void (async () => {
        for await (const change of client.changes()) applied.push(change.current.seq);
      })();
      clients.push(client);
      await client.start();
      await client.ready();
    }
    const colors = () => clients.map((c) => c.values('app')?.['color']);

    // The least loaded worker takes each new stream: six streams, three on each.
    await eventually(async () => (await perWorker()).join() === '3,3', { message: 'three streams on each worker' });
    assert.equal(await metric('herald_watch_streams'), 6, 'the primary counts every stream');

    await setEntry(ts, 'app', 'color', { value: 'green' });
    await eventually(() => colors().every((c) => c === 'green'), { message: 'green on every watcher' });

    const [victim] = workerPids() as [number];
    process.kill(victim, 'SIGKILL');
    // Committed while the victim's clients are cut off: they must get it when they come back.
    await setEntry(ts, 'app', 'color', { value: 'red' });
    const last = await setEntry(ts, 'app', 'color', { value: 'violet' });

    await eventually(() => colors().every((c) => c === 'violet'), {
      message: 'violet on every watcher, the reconnected included',
      timeoutMs: 30_000,
    });
    await eventually(async () => (await metric('herald_watch_worker_restarts_total')) === 1, {
      message: 'the restart counted',
    });
    await eventually(() => workerPids().length === 2 && !workerPids().includes(victim), {
      message: 'the killed worker restarted',
      timeoutMs: 30_000,
    });
    await eventually(async () => (await metric('herald_watch_streams')) === 6, { message: 'six streams again' });
    const [one, two] = await perWorker();
    assert.equal((one ?? 0) + (two ?? 0), 6, 'every stream is in a worker again');

    const disconnected = statuses.filter((s) => s.some((status) => status.type === 'disconnected')).length;
    assert.equal(disconnected, 3, "exactly the victim's three clients were cut off");
    for (const [i, applied] of seqs.entries()) {
      assert.deepEqual(
        applied,
        [...applied].sort((a, b) => a - b),
        `client ${i} never went back in seq`,
      );
      assert.ok(!statuses[i]?.some((s) => s.type === 'rejected'), `client ${i} verified everything it got`);
      assert.equal(clients[i]?.snapshot('app')?.revision, last.revision, `client ${i} holds the last release`);
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

void test('a stream resumed through a worker gets one delta from what it holds', async () => {
  const first = await RawWatch.open(ts.url, [{ namespace: 'app' }], { token });
  let seq: number;
  let digest: string;
  try {
    assert.equal(first.status, 200);
    assert.equal((await first.next()).type, 'hello');
    const snapshot = await first.nextView();
    assert.equal(snapshot.type, 'snapshot');
    const manifest = snapshot.body['manifest'] as { seq: number; digest: string };
    ({ seq, digest } = manifest);
  } finally {
    await first.close();
  }
  await setEntry(ts, 'app', 'color', { value: 'amber' });
  const resumed = await RawWatch.open(ts.url, [{ namespace: 'app', seq, digest }], { token });
  try {
    assert.equal((await resumed.next()).type, 'hello');
    const delta = await resumed.nextView();
    assert.equal(delta.type, 'delta');
    assert.equal(delta.body['fromSeq'], seq);
    assert.deepEqual(delta.body['set'], { color: 'amber' });
  } finally {
    await resumed.close();
  }
});

void test('with TLS the streams stay in the primary and are served the same', async () => {
  const dir = await tempDir();
  const pki = await makeTestPki(dir.path);
  const secure = await startTestServer({
    config: { watchWorkers: 1, tls: { cert: pki.server.cert, key: pki.server.key } },
  });
  const fetchTls = tlsFetch({ ca: pki.ca.cert });
  const admin = { authorization: `Bearer ${secure.adminToken}`, 'content-type': 'application/json' };
  const controller = new AbortController();
  try {
    assert.equal(
      (await fetchTls(`${secure.url}/v1/namespaces`, { method: 'POST', headers: admin, body: '{"name":"app"}' }))
        .status,
      201,
    );
    const put = (value: string) =>
      fetchTls(`${secure.url}/v1/namespaces/app/entries/color`, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify({ value }),
      });
    assert.equal((await put('blue')).status, 200);
    const response = await fetchTls(`${secure.url}/v1/watch`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ views: [{ namespace: 'app' }] }),
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${String(pattern)}: ${text}`);
        text += Buffer.from(value).toString('utf8');
      }
    };
    await until(/event: snapshot\n/u);
    const metrics = await (await fetchTls(`${secure.url}/metrics`)).text();
    assert.match(metrics, /^herald_watch_streams 1$/mu);
    assert.match(metrics, /^herald_watch_worker_streams\{worker="1"\} 0$/mu, 'the worker holds none of it');
    assert.equal((await put('green')).status, 200);
    await until(/event: delta\ndata: .*"color":"green"/u);
  } finally {
    controller.abort();
    await secure.close();
    await dir.cleanup();
  }
});
