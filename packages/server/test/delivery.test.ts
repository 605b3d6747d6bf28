// Delivery on an in-process server over raw HTTP on loopback (issue 4): the watch stream (fan-out
// encoded once, slow clients cut off without costing anyone an update, load shedding, heartbeats),
// plain-HTTP views (ETag, If-None-Match, long poll, label stacks), releases (manual policy,
// rollback), signing keys and their rotation, and secrets by audience. Watch streams are read
// with testkit's RawWatch (fetch + the SDK's SSE parser), so every event is seen exactly as sent.
// Every wait below is bounded: a liveness guard, never a timing assertion.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyDelta, TrustStore, viewDigest, type Manifest, type PublicKeyInfo, type ViewValues } from '@herald/core';
import { SseParser } from '@herald/sdk';
import {
  eventually,
  applyViewEvent,
  ChunkedResponseDecoder,
  RawWatch,
  startTestServer,
  type HeldView,
  type RawWatchView,
  type TestServer,
  type WatchEvent,
} from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken, type RawResponse } from './helpers.js';

interface SignedView {
  manifest: Manifest;
  signature: string;
  values: ViewValues;
}

/** Every stream a test opened, closed in `after` whatever happened. */
const opened = new Set<RawWatch>();
const servers: TestServer[] = [];
const sockets = new Set<Socket>();

after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all([...opened].map((w) => w.close()));
  for (const server of servers) await server.close();
});

async function server(config: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const ts = await startTestServer(config);
  servers.push(ts);
  return ts;
}

async function watch(ts: TestServer, token: string, views: RawWatchView[], instanceId?: string): Promise<RawWatch> {
  const stream = await RawWatch.open(ts.url, views, { token, ...(instanceId ? { instanceId } : {}) });
  opened.add(stream);
  return stream;
}

async function closeAll(streams: RawWatch[]): Promise<void> {
  await Promise.all(
    streams.map(async (s) => {
      await s.close();
      opened.delete(s);
    }),
  );
}

/** `promise`, or a failure after `ms` (a liveness guard; the timer never outlives the promise). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** One commit; `undefined` deletes a key. With the immediate policy it is also a release. */
async function commit(ts: TestServer, ns: string, values: Record<string, unknown>, label?: string): Promise<number> {
  const changes = Object.entries(values).map(([key, value]) =>
    value === undefined
      ? { op: 'delete', key, ...(label === undefined ? {} : { label }) }
      : { op: 'set', key, value, ...(label === undefined ? {} : { label }) },
  );
  const response = await call(ts, 'POST', `/v1/namespaces/${ns}/commits`, { body: { changes } });
  assert.equal(response.status, 201, response.text);
  return (response.json as { revision: number }).revision;
}

function viewPath(ns: string, labels: string[] = [], extra = ''): string {
  const query = labels.map((l) => `label=${encodeURIComponent(l)}`).join('&');
  const all = [query, extra].filter(Boolean).join('&');
  return `/v1/views/${encodeURIComponent(ns)}${all ? `?${all}` : ''}`;
}

async function getView(
  ts: TestServer,
  ns: string,
  options: { labels?: string[]; token?: string } = {},
): Promise<SignedView> {
  const response = await call(
    ts,
    'GET',
    viewPath(ns, options.labels),
    options.token === undefined ? {} : { token: options.token },
  );
  assert.equal(response.status, 200, response.text);
  return response.json as SignedView;
}

async function releases(ts: TestServer, ns: string): Promise<Array<{ seq: number; revision: number; kind: string }>> {
  const response = await call(ts, 'GET', `/v1/namespaces/${ns}/releases`);
  assert.equal(response.status, 200, response.text);
  return (response.json as { items: Array<{ seq: number; revision: number; kind: string }> }).items;
}

function manifestOf(event: WatchEvent): Manifest {
  return event.body.manifest as Manifest;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function inBatches<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next;
        next += 1;
        results[i] = await fn(items[i] as T);
      }
    }),
  );
  return results;
}

void describe('watch streams and plain HTTP (shared server, heartbeats every 200 ms)', () => {
  let ts: TestServer;
  let clientToken: string;

  before(async () => {
    ts = await server({ config: { heartbeatMs: 200 } });
    clientToken = (await createToken(ts, [{ namespaces: '*', role: 'client' }])).token;
  });

  void it('serves a view over plain HTTP: ETag, If-None-Match → 304, long poll, label stacks', async () => {
    const ns = 'plain';
    await createNamespace(ts, ns);
    await commit(ts, ns, { x: 'default', y: 'only-default' });
    await commit(ts, ns, { x: 'prod' }, 'prod');
    await commit(ts, ns, { x: 'prod-eu', z: 'eu' }, 'prod/eu');

    const first = await call(ts, 'GET', viewPath(ns), { token: clientToken });
    assert.equal(first.status, 200, first.text);
    const body = first.json as SignedView;
    assert.deepEqual(body.values, { x: 'default', y: 'only-default' });
    assert.equal(body.manifest.digest, viewDigest(body.values));
    assert.equal(first.headers.get('etag'), `"${body.manifest.digest}"`);
    assert.equal(typeof body.signature, 'string');

    // Later labels override earlier ones; a key only under an earlier label shows through.
    assert.deepEqual((await getView(ts, ns, { labels: ['', 'prod', 'prod/eu'], token: clientToken })).values, {
      x: 'prod-eu',
      y: 'only-default',
      z: 'eu',
    });
    assert.deepEqual((await getView(ts, ns, { labels: ['', 'prod/eu', 'prod'], token: clientToken })).values, {
      x: 'prod',
      y: 'only-default',
      z: 'eu',
    });
    assert.deepEqual((await getView(ts, ns, { labels: ['', 'prod'], token: clientToken })).values, {
      x: 'prod',
      y: 'only-default',
    });
    assert.deepEqual(
      (await getView(ts, ns, { labels: ['prod'], token: clientToken })).values,
      { x: 'prod' },
      'a stack without "" has no defaults',
    );

    const etag = first.headers.get('etag') as string;
    const unchanged = await call(ts, 'GET', viewPath(ns), { token: clientToken, headers: { 'if-none-match': etag } });
    assert.equal(unchanged.status, 304);
    assert.equal(unchanged.text, '');
    const other = await call(ts, 'GET', viewPath(ns), { token: clientToken, headers: { 'if-none-match': '"0000"' } });
    assert.equal(other.status, 200, 'another digest gets the view');

    // Long poll: the request waits; a commit meanwhile answers it with the new view.
    const polling = call(ts, 'GET', viewPath(ns, [], 'wait=5'), {
      token: clientToken,
      headers: { 'if-none-match': etag },
    });
    await sleep(300);
    await commit(ts, ns, { y: 'changed' });
    const answered = await polling;
    assert.equal(answered.status, 200, 'the long poll answers with the new release');
    const fresh = answered.json as SignedView;
    assert.equal(fresh.values.y, 'changed');
    assert.ok(fresh.manifest.seq > body.manifest.seq);
    assert.equal(answered.headers.get('etag'), `"${fresh.manifest.digest}"`);
    assert.notEqual(fresh.manifest.digest, body.manifest.digest);

    // A release that leaves this view's values alone does not answer its long poll: 304 once the wait is over.
    const quiet = call(ts, 'GET', viewPath(ns, [], 'wait=1'), {
      token: clientToken,
      headers: { 'if-none-match': `"${fresh.manifest.digest}"` },
    });
    await commit(ts, ns, { x: 'elsewhere' }, 'staging');
    assert.equal((await quiet).status, 304, 'the view did not change: 304');
  });

  void it('manual policy: commits do not release, a release does; rollback is a newer seq with older content, sent as a delta', async () => {
    const ns = 'manual';
    await createNamespace(ts, ns);
    await commit(ts, ns, { mode: 'one', keep: true });
    const v1 = await getView(ts, ns, { token: clientToken });
    assert.equal(v1.manifest.seq, 1, 'the immediate policy (the default) released the first commit');

    const policy = await call(ts, 'PUT', `/v1/namespaces/${ns}/policy`, { body: { strategy: 'manual' } });
    assert.equal(policy.status, 200, policy.text);
    assert.deepEqual((await call(ts, 'GET', `/v1/namespaces/${ns}/policy`)).json, { strategy: 'manual' });

    const stream = await watch(ts, clientToken, [{ namespace: ns, seq: v1.manifest.seq, digest: v1.manifest.digest }]);
    assert.equal((await stream.nextView()).type, 'hello');
    await commit(ts, ns, { mode: 'two', extra: 1 });
    assert.deepEqual(
      (await releases(ts, ns)).map((r) => r.seq),
      [1],
      'a commit under the manual policy makes no release',
    );
    assert.equal(
      (await getView(ts, ns, { token: clientToken })).manifest.digest,
      v1.manifest.digest,
      'the view is still release 1',
    );

    const made = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: { note: 'by hand' } });
    assert.equal(made.status, 201, made.text);
    assert.equal((made.json as { seq: number }).seq, 2);
    const d2 = await stream.nextView();
    assert.equal(d2.type, 'delta', 'only the release reaches the stream, and as a delta');
    assert.equal(d2.body.fromSeq, 1);
    assert.equal(manifestOf(d2).seq, 2);
    let held: HeldView = applyViewEvent({ manifest: v1.manifest, signature: v1.signature, values: v1.values }, d2);
    assert.deepEqual({ ...held.values }, { extra: 1, keep: true, mode: 'two' });

    const rolled = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: { rollbackTo: 1 } });
    assert.equal(rolled.status, 201, rolled.text);
    const rollback = rolled.json as { seq: number; kind: string; revision: number };
    assert.equal(rollback.seq, 3, 'a rollback is a new, higher seq');
    assert.equal(rollback.kind, 'rollback');
    assert.equal(rollback.revision, v1.manifest.revision);
    const d3 = await stream.nextView();
    assert.equal(d3.type, 'delta');
    assert.equal(d3.body.fromSeq, 2);
    assert.equal(manifestOf(d3).seq, 3);
    assert.equal(manifestOf(d3).digest, v1.manifest.digest, 'the content of release 1');
    held = applyViewEvent(held, d3);
    assert.deepEqual({ ...held.values }, v1.values);
    assert.equal((await getView(ts, ns, { token: clientToken })).manifest.seq, 3);

    const missing = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: { rollbackTo: 99 } });
    assert.equal(missing.status, 404, missing.text);
  });

  void it('secrets reach only tokens allowed to read them: another audience, another digest', async () => {
    const ns = 'secretive';
    await createNamespace(ts, ns);
    await commit(ts, ns, { host: 'db.internal' });
    const put = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/${encodeURIComponent('db/password')}`, {
      body: { value: 'hunter2', secret: true },
    });
    assert.equal(put.status, 200, put.text);
    const withSecretsToken = (await createToken(ts, [{ namespaces: ns, role: 'client', secrets: true }])).token;

    const plain = await getView(ts, ns, { token: clientToken });
    assert.deepEqual(plain.values, { host: 'db.internal' });
    assert.equal(plain.manifest.secrets, false);
    for (const token of [ts.adminToken, withSecretsToken]) {
      const full = await getView(ts, ns, { token });
      assert.deepEqual(full.values, { 'db/password': 'hunter2', host: 'db.internal' });
      assert.equal(full.manifest.secrets, true);
      assert.notEqual(full.manifest.digest, plain.manifest.digest);
      assert.equal(full.manifest.seq, plain.manifest.seq);
    }

    // The same on the watch stream.
    const a = await watch(ts, clientToken, [{ namespace: ns }]);
    const b = await watch(ts, ts.adminToken, [{ namespace: ns }]);
    assert.equal((await a.nextView()).type, 'hello');
    assert.equal((await b.nextView()).type, 'hello');
    const sa = await a.nextView();
    const sb = await b.nextView();
    assert.deepEqual(sa.body.values, { host: 'db.internal' });
    assert.equal(manifestOf(sa).secrets, false);
    assert.deepEqual(sb.body.values, { 'db/password': 'hunter2', host: 'db.internal' });
    assert.equal(manifestOf(sb).secrets, true);
    assert.doesNotMatch(sa.data, /hunter2/u);
    await closeAll([a, b]);
  });

  void it('sends heartbeats on idle streams', async () => {
    const ns = 'idle';
    await createNamespace(ts, ns);
    await commit(ts, ns, { k: 1 });
    const stream = await watch(ts, clientToken, [{ namespace: ns }]);
    const hello = await stream.next();
    assert.equal(hello.type, 'hello');
    assert.equal(hello.body.heartbeatMs, 200);
    assert.equal((await stream.nextView()).type, 'snapshot');
    const beats: WatchEvent[] = [];
    while (beats.length < 3) {
      const event = await stream.next(10_000);
      assert.equal(event.type, 'heartbeat', 'nothing but heartbeats on an idle stream');
      beats.push(event);
    }
    const revision = (await call(ts, 'GET', '/v1/namespaces/idle')).json as { revision: number };
    for (const beat of beats) {
      assert.equal(typeof beat.body.at, 'number');
      assert.equal(typeof beat.body.revision, 'number');
      assert.ok((beat.body.revision as number) >= revision.revision, 'the heartbeat tells how fresh the upstream is');
    }
    assert.ok((beats[2]?.body.at as number) > (beats[0]?.body.at as number));
    await closeAll([stream]);
  });
});

void it('fans a release out to 1,000 streams with one encoding per distinct (from, to)', async () => {
  const ts = await server();
  const clientToken = (await createToken(ts, [{ namespaces: '*', role: 'client' }])).token;
  const ns = 'fanout';
  await createNamespace(ts, ns);
  const held: Array<{ seq: number; digest: string }> = [];
  for (const a of [1, 2, 3]) {
    await commit(ts, ns, { a, b: 'same' });
    const { manifest } = await getView(ts, ns, { token: clientToken });
    held.push({ seq: manifest.seq, digest: manifest.digest });
  }
  const [r1, r2, r3] = held as [
    { seq: number; digest: string },
    { seq: number; digest: string },
    { seq: number; digest: string },
  ];
  assert.deepEqual([r1.seq, r2.seq, r3.seq], [1, 2, 3]);

  // 400 streams hold nothing, 300 hold release 1, 300 hold release 2: three distinct (from, to).
  const plan: Array<{ holds: { seq: number; digest: string } | undefined }> = [
    ...Array.from({ length: 400 }, () => ({ holds: undefined })),
    ...Array.from({ length: 300 }, () => ({ holds: r1 })),
    ...Array.from({ length: 300 }, () => ({ holds: r2 })),
  ];
  const before = ts.server.views.encodedEvents;
  const streams = await inBatches(plan, 50, ({ holds }) =>
    watch(ts, clientToken, [{ namespace: ns, ...(holds ?? {}) }]),
  );
  for (const stream of streams) assert.equal(stream.status, 200, stream.refusal);
  const firsts = await inBatches(streams, 100, async (stream) => {
    assert.equal((await stream.nextView()).type, 'hello');
    return stream.nextView();
  });
  const dataByGroup = new Map<string, Set<string>>();
  plan.forEach(({ holds }, i) => {
    const event = firsts[i] as WatchEvent;
    assert.equal(manifestOf(event).seq, 3, 'every stream is brought to the newest release');
    if (holds === undefined) assert.equal(event.type, 'snapshot');
    else {
      assert.equal(event.type, 'delta');
      assert.equal(event.body.fromSeq, holds.seq);
    }
    const group = String(holds?.seq ?? 'none');
    const set = dataByGroup.get(group) ?? new Set();
    set.add(event.data);
    dataByGroup.set(group, set);
  });
  assert.deepEqual(
    [...dataByGroup.values()].map((s) => s.size),
    [1, 1, 1],
    'one identical event per group',
  );
  assert.equal(ts.server.views.encodedEvents - before, 3, 'snapshot@3, delta 1→3 and delta 2→3, each encoded once');
  assert.equal(ts.server.hub.streamCount, 1000);

  // Now everyone holds release 3: one commit, one delta 3→4, encoded once for 1,000 sockets.
  const beforeDelta = ts.server.views.encodedEvents;
  await commit(ts, ns, { a: 4 });
  const deltas = await inBatches(streams, 100, (stream) => stream.nextView());
  const payloads = new Set(deltas.map((e) => e.data));
  assert.equal(payloads.size, 1, 'the same bytes to every stream');
  const delta = deltas[0] as WatchEvent;
  assert.equal(delta.type, 'delta');
  assert.equal(delta.body.fromSeq, 3);
  assert.equal(manifestOf(delta).seq, 4);
  assert.deepEqual(delta.body.set, { a: 4 });
  assert.equal(ts.server.views.encodedEvents - beforeDelta, 1, 'the delta was serialised once for 1,000 streams');

  await closeAll(streams);
  await eventually(() => ts.server.hub.streamCount === 0, {
    message: 'the streams to close on the server',
    intervalMs: 20,
    fatal: () => true,
  });
});

void it('a slow client is cut off at its buffer bound; a normal one gets every release; the slow one resumes with one delta', async (t) => {
  const ts = await server({ config: { maxStreamBufferBytes: 64 * 1024 } });
  const ns = 'bulky';
  await createNamespace(ts, ns);
  await commit(ts, ns, { blob: 'start', n: 0 });
  const start = await getView(ts, ns);

  const normal = await watch(ts, ts.adminToken, [{ namespace: ns }]);
  assert.equal((await normal.nextView()).type, 'hello');
  let normalHeld = applyViewEvent(undefined, await normal.nextView());
  assert.equal(normalHeld.manifest.seq, start.manifest.seq);

  // The slow client: a raw socket that reads its first snapshot, then never reads again, so TCP
  // pushes back on the server.
  const slowSocket = connect(Number(new URL(ts.url).port), '127.0.0.1');
  sockets.add(slowSocket);
  slowSocket.on('error', () => undefined);
  await once(slowSocket, 'connect');
  const body = JSON.stringify({ views: [{ namespace: ns }] });
  slowSocket.write(
    `POST /v1/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ts.adminToken}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const decoder = new ChunkedResponseDecoder();
  const parser = new SseParser();
  const received: WatchEvent[] = [];
  const onData = (chunk: Buffer): void => {
    for (const piece of decoder.push(chunk)) {
      for (const e of parser.push(piece))
        received.push({ type: e.type, data: e.data, body: JSON.parse(e.data) as Record<string, unknown> });
    }
  };
  slowSocket.on('data', onData);
  const slowClosed = new Promise<void>((resolve) => slowSocket.once('close', () => resolve()));
  await eventually(() => received.some((e) => e.type === 'snapshot'), {
    message: "the slow client's snapshot",
    intervalMs: 20,
    fatal: () => true,
  });
  slowSocket.pause();
  assert.match(decoder.head ?? '', /^HTTP\/1\.1 200/u);
  let slowHeld: HeldView | undefined;
  for (const event of received.splice(0))
    if (event.type === 'snapshot' || event.type === 'delta') slowHeld = applyViewEvent(slowHeld, event);
  assert.equal(slowHeld?.manifest.seq, start.manifest.seq);
  await eventually(() => ts.server.hub.streamCount === 2, {
    message: 'both streams attached',
    intervalMs: 20,
    fatal: () => true,
  });

  // Large releases until the server cuts the slow client off (bounded); the normal one follows each.
  let n = 0;
  while (ts.server.hub.streamCount === 2) {
    n += 1;
    assert.ok(n <= 100, 'the slow client was never cut off');
    await commit(ts, ns, { blob: `${n}:${'x'.repeat(900_000)}`, n });
    const event = await normal.nextView();
    assert.equal(event.type, 'delta');
    normalHeld = applyViewEvent(normalHeld, event);
    assert.equal(normalHeld.values.n, n, 'the normal client got this release');
  }
  assert.ok(n >= 2, 'several releases were queued before the cut');
  t.diagnostic(`the slow client was cut off after ${n} large releases`);
  // One more release after the cut: the normal client still gets it.
  n += 1;
  await commit(ts, ns, { blob: 'small', n });
  normalHeld = applyViewEvent(normalHeld, await normal.nextView());
  assert.equal(normalHeld.values.n, n);
  const newest = await getView(ts, ns);
  assert.equal(normalHeld.manifest.digest, newest.manifest.digest);

  // Whatever else reached the slow client before the cut (its socket may have been reset); then its stream is over.
  slowSocket.resume();
  await within(slowClosed, 30_000, 'the end of the slow stream');
  for (const event of received)
    if (event.type === 'snapshot' || event.type === 'delta') slowHeld = applyViewEvent(slowHeld, event);
  assert.ok(slowHeld);
  assert.ok(slowHeld.manifest.seq < newest.manifest.seq, 'the slow client did not get everything: it was cut off');

  // It resumes with what it holds: exactly one delta to the newest, then only what comes next.
  const resumed = await watch(ts, ts.adminToken, [
    { namespace: ns, seq: slowHeld.manifest.seq, digest: slowHeld.manifest.digest },
  ]);
  assert.equal((await resumed.nextView()).type, 'hello');
  const catchUp = await resumed.nextView();
  assert.equal(catchUp.type, 'delta');
  assert.equal(catchUp.body.fromSeq, slowHeld.manifest.seq);
  assert.equal(manifestOf(catchUp).seq, newest.manifest.seq);
  slowHeld = applyViewEvent(slowHeld, catchUp);
  assert.equal(slowHeld.manifest.digest, newest.manifest.digest);
  await commit(ts, ns, { n: n + 1 });
  const following = await resumed.nextView();
  assert.equal(following.type, 'delta');
  assert.equal(following.body.fromSeq, newest.manifest.seq, 'nothing in between');
  await closeAll([normal, resumed]);
});

void it('sheds load: past maxWatchStreams a watch gets 503 with Retry-After and problem+json "unavailable"', async () => {
  const ts = await server({ config: { maxWatchStreams: 2 } });
  await createNamespace(ts, 'busy');
  await commit(ts, 'busy', { k: 1 });
  const a = await watch(ts, ts.adminToken, [{ namespace: 'busy' }]);
  const b = await watch(ts, ts.adminToken, [{ namespace: 'busy' }]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  await eventually(() => ts.server.hub.streamCount === 2, {
    message: 'two streams',
    intervalMs: 20,
    fatal: () => true,
  });
  const c = await watch(ts, ts.adminToken, [{ namespace: 'busy' }]);
  assert.equal(c.status, 503);
  const retryAfter = c.headers.get('retry-after');
  assert.ok(retryAfter !== null && /^\d+$/u.test(retryAfter), `Retry-After: ${String(retryAfter)}`);
  const refused: RawResponse = {
    status: c.status,
    headers: c.headers,
    text: c.refusal,
    json: JSON.parse(c.refusal) as unknown,
  };
  assertProblem(refused, 'unavailable');
  assert.equal(ts.server.hub.streamCount, 2, 'the refused watch holds no stream');

  // The bound is on open streams: once one closes, a watch is served again.
  await closeAll([a]);
  await eventually(() => ts.server.hub.streamCount === 1, { message: 'one stream', intervalMs: 20, fatal: () => true });
  const d = await watch(ts, ts.adminToken, [{ namespace: 'busy' }]);
  assert.equal(d.status, 200, d.refusal);
  await closeAll([b, c, d]);
});

void it('signs every view: TrustStore verifies against /v1/keys; a rotation is endorsed, learned, and announced on streams', async () => {
  const ts = await server();
  const ns = 'signed';
  await createNamespace(ts, ns);
  await commit(ts, ns, { k: 'v1' });
  const keys0 = ((await call(ts, 'GET', '/v1/keys', { token: null })).json as { keys: PublicKeyInfo[] }).keys;
  assert.equal(keys0.length, 1);
  const oldKey = keys0[0] as PublicKeyInfo;
  const trustOld = new TrustStore([oldKey]);

  const v1 = await getView(ts, ns);
  assert.equal(v1.manifest.keyId, oldKey.keyId);
  assert.ok(trustOld.verify(v1), 'the manifest verifies under the published key');
  assert.equal(
    trustOld.verify({ manifest: { ...v1.manifest, seq: v1.manifest.seq + 1 }, signature: v1.signature }),
    false,
    'an altered manifest does not',
  );

  const stream = await watch(ts, ts.adminToken, [{ namespace: ns, seq: v1.manifest.seq, digest: v1.manifest.digest }]);
  const hello = await stream.nextView();
  assert.equal(hello.type, 'hello');
  assert.deepEqual(
    (hello.body.keys as PublicKeyInfo[]).map((k) => k.keyId),
    [oldKey.keyId],
  );

  const rotated = await call(ts, 'POST', '/v1/keys/rotate', { body: {} });
  assert.equal(rotated.status, 200, rotated.text);
  const newKey = rotated.json as PublicKeyInfo;
  assert.notEqual(newKey.keyId, oldKey.keyId);
  assert.equal(newKey.endorsedBy?.keyId, oldKey.keyId, 'the new key is endorsed by the old one');

  const announced = await stream.nextView();
  assert.equal(announced.type, 'keys', 'watch streams are told of the new key');
  assert.deepEqual(
    (announced.body.keys as PublicKeyInfo[]).map((k) => k.keyId).sort(),
    [oldKey.keyId, newKey.keyId].sort(),
  );

  await commit(ts, ns, { k: 'v2' });
  const delta = await stream.nextView();
  assert.equal(delta.type, 'delta');
  const signed = { manifest: manifestOf(delta), signature: delta.body.signature as string };
  assert.equal(signed.manifest.keyId, newKey.keyId, 'new releases are signed with the new key');
  const v2 = await getView(ts, ns);
  assert.equal(v2.manifest.keyId, newKey.keyId);

  assert.equal(trustOld.verify(signed), false, 'not trusted before learning');
  const keys1 = ((await call(ts, 'GET', '/v1/keys', { token: null })).json as { keys: PublicKeyInfo[] }).keys;
  assert.deepEqual(trustOld.learn(keys1), [newKey.keyId], 'the new key is learned through the endorsement');
  assert.ok(trustOld.verify(signed));
  assert.ok(trustOld.verify(v2));
  assert.deepEqual(
    { ...applyDelta(v1.values, { set: delta.body.set as ViewValues, remove: delta.body.remove as string[] }) },
    v2.values,
  );

  assert.equal(new TrustStore().learn(keys1).length, 0, 'a key endorsed by no trusted key is not learned');
  await closeAll([stream]);
});
