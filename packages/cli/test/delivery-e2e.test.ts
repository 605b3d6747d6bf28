// Push delivery end to end (issue 4), as an operator runs it: a real `herald server` child process
// on a temp SQLite folder, and SDK clients in separate child processes (`herald simulate`,
// `herald watch`), on loopback. Where a test needs an attacker, a TCP proxy of testkit sits between
// the watch and the server and alters or injects bytes of the real stream. What the fleet sees is
// read with `herald fleet --json`.
//
// The tests run in order. Every bound below (polls, waits for a line) is a liveness guard that
// turns a hang into a failure, never a timing assertion.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TrustStore, type Manifest, type PublicKeyInfo, type ViewValues } from '@herald/core';
import {
  eventually,
  applyViewEvent,
  RawWatch,
  spawnHerald,
  sseChunk,
  startHeraldProcess,
  TamperingProxy,
  tempDir,
  testAdminToken,
  type HeraldChild,
  type ServerProcess,
  type WatchEvent,
} from '@herald/testkit';
import { heraldAt, ok, parseJson } from './helpers.js';

interface SignedView {
  manifest: Manifest;
  signature: string;
  values: ViewValues;
}

interface FleetItem {
  instanceId: string;
  attributes: Record<string, string>;
  labels: string[];
  seq: number;
  digest: string;
  status: string;
  reason?: string;
  health: string;
}

interface WatchLine {
  namespace: string;
  labels: string[];
  seq: number;
  revision: number;
  digest: string;
  values: Record<string, unknown>;
  changedKeys: string[];
  via: string;
}

/** Every fetch gives up after this long: a request that hangs is a failure, not a slow test. */
const fetchBoundMs = 30_000;

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let clientToken: string;
const servers: ServerProcess[] = [];
const children: HeraldChild[] = [];
const proxies: TamperingProxy[] = [];
const streams: RawWatch[] = [];

before(async () => {
  dir = await tempDir('herald-delivery-e2e-');
  server = await startServer('data');
  clientToken = await createClientToken(server.url);
});

after(async () => {
  await Promise.all(streams.map((s) => s.close()));
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => s.kill('SIGKILL')));
  await dir.cleanup();
});

/** What each server wrote on stderr (the tail), for failure messages. */
const serverLogs = new Map<string, string>();

async function startServer(name: string): Promise<ServerProcess> {
  const started = await startHeraldProcess([
    'server',
    '--data',
    join(dir.path, name),
    '--listen',
    '127.0.0.1:0',
    '--log-level',
    'error',
  ]);
  servers.push(started);
  serverLogs.set(started.url, '');
  started.child.stderr?.on('data', (chunk: Buffer) =>
    serverLogs.set(started.url, `${serverLogs.get(started.url) ?? ''}${chunk.toString()}`.slice(-4000)),
  );
  return started;
}

/** How a server is doing, for failure messages: exited or not, and what it logged. */
function serverState(url: string): string {
  const found = servers.find((s) => s.url === url);
  const exit = found ? (found.child.signalCode ?? found.child.exitCode) : undefined;
  return `server ${url} ${exit === null || exit === undefined ? 'running' : `exited (${String(exit)})`}; stderr: ${serverLogs.get(url) ?? ''}`;
}

async function api<T>(url: string, method: string, path: string, body?: unknown, token = testAdminToken): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, url), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(fetchBoundMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(
      `${method} ${path}: ${(error as Error).message} (${cause?.code ?? cause?.message ?? 'no cause'}); ${serverState(url)}`,
      { cause: error },
    );
  }
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function createClientToken(url: string): Promise<string> {
  return (
    await api<{ token: string }>(url, 'POST', '/v1/tokens', {
      name: 'delivery-e2e',
      scopes: [{ namespaces: '*', role: 'client' }],
    })
  ).token;
}

async function createNamespace(
  name: string,
  values: Record<string, unknown>,
  url = server.url,
  token = clientToken,
): Promise<SignedView> {
  await api(url, 'POST', '/v1/namespaces', { name });
  await commit(name, values, url);
  return view(name, url, token);
}

/** One commit (the immediate policy: one release); `undefined` deletes a key. */
async function commit(ns: string, values: Record<string, unknown>, url = server.url): Promise<number> {
  const changes = Object.entries(values).map(([key, value]) =>
    value === undefined ? { op: 'delete', key } : { op: 'set', key, value },
  );
  return (await api<{ revision: number }>(url, 'POST', `/v1/namespaces/${ns}/commits`, { changes })).revision;
}

/** The view a client token gets (the audience of the watchers below). */
async function view(ns: string, url = server.url, token = clientToken): Promise<SignedView> {
  return api<SignedView>(url, 'GET', `/v1/views/${ns}`, undefined, token);
}

/** `herald fleet NS --json`, as an operator would read it. */
async function fleet(ns: string): Promise<FleetItem[]> {
  const out = ok(await heraldAt(server.url, testAdminToken)(['fleet', ns, '--json']), 'herald fleet');
  return parseJson<{ instances: FleetItem[] }>(out).instances;
}

/** Starts a herald child (stopped in `after` whatever happens). */
function herald(args: string[], env: Record<string, string>): HeraldChild {
  const child = spawnHerald(args, env);
  children.push(child);
  return child;
}

/** SIGTERM and a bounded wait for the exit; SIGKILL past it. */
async function stop(child: HeraldChild): Promise<void> {
  const timer = setTimeout(() => void child.stop('SIGKILL'), 15_000);
  await child.stop('SIGTERM');
  clearTimeout(timer);
}

function watchLines(child: HeraldChild): WatchLine[] {
  return child.stdout.map((line) => parseJson<WatchLine>(line));
}

async function waitForWatchLine(
  child: HeraldChild,
  match: (line: WatchLine) => boolean,
  timeoutMs = 30_000,
): Promise<WatchLine> {
  return parseJson<WatchLine>(await child.waitForLine((line) => match(parseJson<WatchLine>(line)), { timeoutMs }));
}

async function inBatches<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next] as T;
        next += 1;
        await fn(item);
      }
    }),
  );
}

void test('100 SDK instances in a child process receive a release and all report it applied', async () => {
  const ns = 'hundred';
  const v1 = await createNamespace(ns, { greeting: 'one', pool: { max: 10 } });
  const sim = herald(['simulate', '--ns', ns, '--instances', '100', '--prefix', 'h', '--attr', 'region=west,east'], {
    HERALD_URL: server.url,
    HERALD_TOKEN: clientToken,
  });
  await sim.waitForLine((line) => line.startsWith('herald: simulating 100 instances'));
  const onRelease = (seq: number, digest: string) => async () => {
    const mine = (await fleet(ns)).filter((i) => i.instanceId.startsWith('h-'));
    return (
      mine.length === 100 && mine.every((i) => i.status === 'applied' && i.seq === seq && i.digest === digest) && mine
    );
  };
  await eventually(onRelease(v1.manifest.seq, v1.manifest.digest), {
    message: '100 instances applied at release 1',
    timeoutMs: 120_000,
    intervalMs: 500,
  });

  await commit(ns, { greeting: 'two', pool: { max: 20 } });
  const v2 = await view(ns);
  assert.equal(v2.manifest.seq, v1.manifest.seq + 1);
  const applied = await eventually(onRelease(v2.manifest.seq, v2.manifest.digest), {
    message: '100 instances applied at release 2',
    timeoutMs: 120_000,
    intervalMs: 500,
  });
  assert.equal(new Set(applied.map((i) => i.instanceId)).size, 100, '100 distinct instances');
  assert.deepEqual(
    new Set(applied.map((i) => i.attributes.region)),
    new Set(['west', 'east']),
    'their attributes reached the fleet',
  );
  assert.ok(applied.every((i) => i.health === 'ok'));
  await stop(sim);
});

void test('a proxy that alters one byte of a delta or of a manifest gets the release rejected, nothing applied; a clean release after is accepted', async () => {
  const ns = 'tamper';
  const v1 = await createNamespace(ns, { message: 'v1-zzzz', n: 1 });
  const proxy = await TamperingProxy.start(server.url);
  proxies.push(proxy);
  const watch = herald(['watch', ns, '--json', '--instance-id', 'tamper-watch', '--report'], {
    HERALD_URL: proxy.url,
    HERALD_TOKEN: clientToken,
  });
  const first = await waitForWatchLine(watch, (l) => l.seq === v1.manifest.seq);
  assert.equal(first.digest, v1.manifest.digest);
  assert.equal(first.via, 'snapshot');
  const item = async () => (await fleet(ns)).find((i) => i.instanceId === 'tamper-watch');
  await eventually(async () => (await item())?.status === 'applied', {
    message: 'the watch reported release 1 applied',
    timeoutMs: 120_000,
    intervalMs: 500,
  });

  // One byte of the delta's values: "zzzz" becomes "zzzy".
  proxy.tamper = ({ type, data }) =>
    type === 'delta' && data.includes('zzzz') ? data.replace('zzzz', 'zzzy') : undefined;
  await commit(ns, { message: 'v2-zzzz', n: 2 });
  const v2 = await view(ns);
  const rejected2 = await eventually(
    async () => {
      const found = await item();
      return found?.status === 'rejected' && found.seq === v2.manifest.seq && found;
    },
    { message: 'release 2 reported rejected', timeoutMs: 120_000, intervalMs: 500 },
  );
  assert.match(rejected2.reason ?? '', /digest_mismatch/u);
  assert.ok(proxy.tampered >= 1, 'the proxy altered the delta');

  // One byte of the manifest: the last digit of issuedAt. The signature no longer verifies.
  proxy.tamper = ({ type, data }) => {
    if (type !== 'delta') return undefined;
    const match = /"manifest":\{[^}]*"issuedAt":\d*(\d)/u.exec(data);
    if (!match) return undefined;
    const at = match.index + match[0].length - 1;
    return `${data.slice(0, at)}${match[1] === '9' ? '8' : String(Number(match[1]) + 1)}${data.slice(at + 1)}`;
  };
  await commit(ns, { message: 'v3-zzzz', n: 3 });
  const v3 = await view(ns);
  const rejected3 = await eventually(
    async () => {
      const found = await item();
      return found?.status === 'rejected' && found.seq === v3.manifest.seq && found;
    },
    { message: 'release 3 reported rejected', timeoutMs: 120_000, intervalMs: 500 },
  );
  assert.match(rejected3.reason ?? '', /bad_signature/u);
  assert.deepEqual(
    watchLines(watch).map((l) => l.seq),
    [v1.manifest.seq],
    'no line for a tampered release',
  );
  assert.ok(
    watch.stderr.some((line) => line.includes(`rejected release ${v2.manifest.seq}`)),
    watch.stderr.join('\n'),
  );

  // Disarmed: the next release is accepted, computed from release 1 (what the watch kept).
  proxy.tamper = undefined;
  await commit(ns, { message: 'v4-zzzz', n: 4 });
  const v4 = await view(ns);
  const accepted = await waitForWatchLine(watch, (l) => l.seq === v4.manifest.seq);
  assert.equal(accepted.digest, v4.manifest.digest);
  assert.deepEqual(accepted.values, { message: 'v4-zzzz', n: 4 });
  assert.equal(accepted.via, 'delta');
  assert.deepEqual(
    watchLines(watch).map((l) => l.seq),
    [v1.manifest.seq, v4.manifest.seq],
  );
  assert.ok(
    watch.stdout.every((line) => !line.includes('zzzy')),
    'no altered value was ever printed',
  );
  await eventually(
    async () => {
      const found = await item();
      return found?.status === 'applied' && found.seq === v4.manifest.seq;
    },
    { message: 'release 4 reported applied', timeoutMs: 120_000, intervalMs: 500 },
  );
  await stop(watch);
});

void test('a replayed older signed release is refused: the client keeps the newer one and reports the rejection', async () => {
  const ns = 'replay';
  const r1 = await createNamespace(ns, { stage: 'one' });
  // Capture the real signed snapshot of release 1, as a client token gets it.
  const capture = await RawWatch.open(server.url, [{ namespace: ns }], { token: clientToken });
  streams.push(capture);
  assert.equal((await capture.nextView()).type, 'hello');
  const old = await capture.nextView();
  assert.equal(old.type, 'snapshot');
  assert.equal((old.body.manifest as Manifest).seq, r1.manifest.seq);
  await capture.close();

  await commit(ns, { stage: 'two' });
  const r2 = await view(ns);
  const proxy = await TamperingProxy.start(server.url);
  proxies.push(proxy);
  const watch = herald(['watch', ns, '--json', '--instance-id', 'replay-watch', '--report'], {
    HERALD_URL: proxy.url,
    HERALD_TOKEN: clientToken,
  });
  const held = await waitForWatchLine(watch, (l) => l.seq === r2.manifest.seq);
  assert.equal(held.digest, r2.manifest.digest);
  await eventually(async () => proxy.streams >= 1, {
    message: 'the watch stream through the proxy',
    timeoutMs: 120_000,
    intervalMs: 500,
  });

  // The attacker replays release 1's genuine, correctly signed snapshot.
  assert.ok(proxy.inject(sseChunk('snapshot', old.data)) >= 1);
  const rejected = await eventually(
    async () => {
      const found = (await fleet(ns)).find((i) => i.instanceId === 'replay-watch');
      return found?.status === 'rejected' && found;
    },
    { message: 'the replay reported rejected', timeoutMs: 120_000, intervalMs: 500 },
  );
  assert.equal(rejected.seq, r1.manifest.seq, 'the report names the release refused');
  assert.match(rejected.reason ?? '', /seq_regressed/u);
  assert.ok(
    watch.stderr.some((line) => line.includes(`rejected release ${r1.manifest.seq}`)),
    watch.stderr.join('\n'),
  );

  // It kept release 2: the next release arrives as a delta from 2, and nothing older was printed.
  await commit(ns, { stage: 'three' });
  const r3 = await view(ns);
  const next = await waitForWatchLine(watch, (l) => l.seq === r3.manifest.seq);
  assert.equal(next.via, 'delta');
  assert.equal(next.digest, r3.manifest.digest);
  assert.deepEqual(next.values, { stage: 'three' });
  assert.deepEqual(
    watchLines(watch).map((l) => l.seq),
    [r2.manifest.seq, r3.manifest.seq],
  );
  await stop(watch);
});

void test('a client reconnecting after 1,000 missed releases gets one delta to the newest', async () => {
  const ns = 'resume';
  const initial: Record<string, unknown> = { gone: true };
  for (let k = 0; k < 50; k += 1) initial[`k${k}`] = 0;
  const rN = await createNamespace(ns, initial);
  const numbers = Array.from({ length: 1000 }, (_, i) => i + 1);
  await inBatches(numbers, 8, (i) => commit(ns, { [`k${i % 50}`]: i, ...(i === 500 ? { gone: undefined } : {}) }));
  const newest = await view(ns);
  assert.equal(newest.manifest.seq, rN.manifest.seq + 1000, 'every commit made a release');

  const stream = await RawWatch.open(
    server.url,
    [{ namespace: ns, seq: rN.manifest.seq, digest: rN.manifest.digest }],
    { token: clientToken },
  );
  streams.push(stream);
  assert.equal(stream.status, 200);
  const hello = await stream.nextView();
  assert.equal(hello.type, 'hello');
  const delta = await stream.nextView();
  assert.equal(delta.type, 'delta');
  assert.equal(delta.body.fromSeq, rN.manifest.seq);
  assert.equal(delta.body.fromDigest, rN.manifest.digest);
  const manifest = delta.body.manifest as Manifest;
  assert.equal(manifest.seq, newest.manifest.seq, 'straight to the newest release');
  assert.deepEqual(delta.body.remove, ['gone']);
  assert.equal(Object.keys(delta.body.set as object).length, 50);
  const applied = applyViewEvent({ manifest: rN.manifest, signature: rN.signature, values: rN.values }, delta);
  assert.equal(applied.manifest.digest, newest.manifest.digest);
  assert.deepEqual({ ...applied.values }, newest.values);
  const keys = (await api<{ keys: PublicKeyInfo[] }>(server.url, 'GET', '/v1/keys')).keys;
  assert.ok(
    new TrustStore(keys).verify({ manifest, signature: delta.body.signature as string }),
    'the delta carries the signed manifest',
  );

  // Nothing else was sent for the missed releases: the next event is the next release's delta.
  await commit(ns, { k0: 'after' });
  const following = await stream.nextView();
  assert.equal(following.type, 'delta');
  assert.equal(following.body.fromSeq, newest.manifest.seq);
  const viewEvents = stream.events.filter((e: WatchEvent) => e.type !== 'heartbeat').map((e) => e.type);
  assert.deepEqual(viewEvents, ['hello', 'delta', 'delta']);
  await stream.close();
});

void test('a validate hook failure becomes a reject report in herald fleet; the instances keep the previous release', async () => {
  const ns = 'validated';
  const v1 = await createNamespace(ns, { feature: 'on', n: 1 });
  const sim = herald(
    [
      'simulate',
      '--ns',
      ns,
      '--instances',
      '5',
      '--prefix',
      'val',
      '--reject-when',
      'feature=broken',
      '--unhealthy-when',
      'feature=broken',
    ],
    {
      HERALD_URL: server.url,
      HERALD_TOKEN: clientToken,
    },
  );
  await sim.waitForLine((line) => line.startsWith('herald: simulating 5 instances'));
  const mine = async () => (await fleet(ns)).filter((i) => i.instanceId.startsWith('val-'));
  await eventually(
    async () => {
      const items = await mine();
      return items.length === 5 && items.every((i) => i.status === 'applied' && i.seq === v1.manifest.seq);
    },
    { message: '5 instances applied at release 1', timeoutMs: 120_000, intervalMs: 500 },
  );

  await commit(ns, { feature: 'broken', n: 2 });
  const v2 = await view(ns);
  const rejected = await eventually(
    async () => {
      const items = await mine();
      return items.length === 5 && items.every((i) => i.status === 'rejected' && i.seq === v2.manifest.seq) && items;
    },
    { message: '5 instances rejected release 2', timeoutMs: 120_000, intervalMs: 500 },
  );
  for (const item of rejected) {
    assert.match(item.reason ?? '', /validation_failed/u);
    assert.match(item.reason ?? '', new RegExp(`simulated rejection of release ${v2.manifest.seq}`, 'u'));
    // --unhealthy-when feature=broken: an instance that ran release 2's values would report failing.
    assert.equal(item.health, 'ok', 'the instances still run release 1');
  }
  const summary = await sim.waitForLine((line) => line.includes(`release ${v2.manifest.seq}: 0 applied, 5 rejected`));
  assert.match(summary, new RegExp(`release ${v1.manifest.seq}: 5 applied, 0 rejected`, 'u'));

  // A good release after it is applied by everyone.
  await commit(ns, { feature: 'on', n: 3 });
  const v3 = await view(ns);
  await eventually(
    async () => {
      const items = await mine();
      return (
        items.length === 5 &&
        items.every((i) => i.status === 'applied' && i.seq === v3.manifest.seq && i.digest === v3.manifest.digest)
      );
    },
    { message: '5 instances applied at release 3', timeoutMs: 120_000, intervalMs: 500 },
  );
  await stop(sim);
});

void test('a client restarted while the server is down (SIGKILL) serves its verified cached config', async () => {
  const own = await startServer('data-cache');
  const ownToken = await createClientToken(own.url);
  const c1 = await createNamespace('cached', { db: { host: 'db-1', port: 5432 }, flag: true }, own.url, ownToken);
  const cache = join(dir.path, 'watch-cache');
  const args = ['watch', 'cached', '--json', '--cache', cache, '--instance-id', 'cache-watch'];
  const env = { HERALD_URL: own.url, HERALD_TOKEN: ownToken };

  const first = herald(args, env);
  const live = await waitForWatchLine(first, (l) => l.seq === c1.manifest.seq);
  assert.equal(live.via, 'snapshot');
  assert.equal(live.digest, c1.manifest.digest);
  await stop(first);

  assert.equal(await own.kill('SIGKILL'), 'SIGKILL');
  const second = herald(args, env);
  const cached = await waitForWatchLine(second, () => true);
  assert.equal(cached.via, 'cache');
  assert.equal(cached.seq, c1.manifest.seq);
  assert.equal(cached.digest, c1.manifest.digest);
  assert.deepEqual(cached.values, { db: { host: 'db-1', port: 5432 }, flag: true });
  await stop(second);
  assert.equal(second.stdout.length, 1, 'nothing but the cached view: the server is gone');
});
