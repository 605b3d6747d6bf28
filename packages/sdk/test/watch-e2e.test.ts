// End to end against a real Herald server (testkit: real SQLite file, real HTTP on 127.0.0.1:0)
// and real HeraldClients. Nothing is mocked; where a test needs an attacker between client and
// server, it sits on the client's own fetch (./wire.ts) and rewrites what the real server sent.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient, type ClientStatus, type HeraldClientOptions, type ViewChange } from '@herald/sdk';
import { eventually, startTestServer, type TestServer } from '@herald/testkit';
import { wire, type WireEvent } from './wire.js';

let ts: TestServer;
let keys: PublicKeyInfo[];
let token: string;
let root: string;
let dirs = 0;

before(async () => {
  ts = await startTestServer();
  root = await mkdtemp(join(tmpdir(), 'herald-sdk-e2e-'));
  keys = (await ts.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
  token = (
    await ts.admin.post<{ token: string }>('/v1/tokens', {
      name: 'sdk-e2e',
      scopes: [{ namespaces: '*', role: 'client' }],
    })
  ).token;
});

after(async () => {
  await ts.close();
  await rm(root, { recursive: true, force: true });
});

function cacheDir(): string {
  dirs += 1;
  return join(root, `cache-${dirs}`);
}

async function createNamespace(name: string, values: Record<string, unknown>, server: TestServer = ts): Promise<void> {
  await server.admin.post('/v1/namespaces', { name });
  await commit(name, values, undefined, server);
}

/** One commit (immediate policy: one release). `undefined` deletes a key. */
async function commit(
  namespace: string,
  values: Record<string, unknown>,
  label?: string,
  server: TestServer = ts,
): Promise<number> {
  const changes = Object.entries(values).map(([key, value]) =>
    value === undefined
      ? { op: 'delete', key, ...(label ? { label } : {}) }
      : { op: 'set', key, value, ...(label ? { label } : {}) },
  );
  return (await server.admin.post<{ revision: number }>(`/v1/namespaces/${namespace}/commits`, { changes })).revision;
}

async function latestSeq(namespace: string, server: TestServer = ts): Promise<number> {
  const { items } = await server.admin.get<{ items: Array<{ seq: number }> }>(`/v1/namespaces/${namespace}/releases`, {
    query: { limit: 1 },
  });
  return items[0]?.seq ?? 0;
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

async function fleetEntry(namespace: string, instanceId: string): Promise<FleetItem | undefined> {
  const { instances } = await ts.admin.get<{ instances: FleetItem[] }>(`/v1/fleet/${namespace}`);
  return instances.find((i) => i.instanceId === instanceId);
}

/** The next item of an iterator that matches, within `ms`. */
async function next<T>(
  what: string,
  iterator: AsyncIterator<T>,
  match: (value: T) => boolean = () => true,
  ms = 10_000,
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

function isStatus<T extends ClientStatus['type']>(type: T): (s: ClientStatus) => boolean {
  return (s) => s.type === type;
}

function client(
  options: Partial<HeraldClientOptions> & Pick<HeraldClientOptions, 'views'>,
  server: TestServer = ts,
): HeraldClient {
  return new HeraldClient({
    url: server.url,
    token,
    instanceId: `e2e-${Math.random().toString(36).slice(2, 10)}`,
    trustedKeys: keys,
    attributes: { region: 'westus', service: 'e2e' },
    ...options,
  });
}

function withSeq(event: WireEvent): number | undefined {
  if (event.type !== 'snapshot' && event.type !== 'delta') return undefined;
  return (JSON.parse(event.data) as { manifest: { seq: number } }).manifest.seq;
}

void describe('watch, end to end against a real server', () => {
  void it('delivers an initial snapshot, verified, with the label stack resolved, and reports it applied', async () => {
    await createNamespace('e2e-initial', { 'db/pool/max': 10, 'feature/x': true });
    await commit('e2e-initial', { 'db/pool/max': 40 }, 'prod');
    const seq = await latestSeq('e2e-initial');
    const w = wire();
    const c = client({ views: [{ namespace: 'e2e-initial', labels: ['', 'prod'] }], fetch: w.fetch });
    try {
      await c.start();
      await c.ready();
      assert.deepEqual({ ...c.values('e2e-initial') }, { 'db/pool/max': 40, 'feature/x': true });
      assert.equal(c.get<number>('e2e-initial', 'db/pool/max'), 40);
      const snapshot = c.snapshot('e2e-initial');
      assert.equal(snapshot?.seq, seq);
      assert.equal(snapshot?.source, 'server');
      assert.equal(snapshot?.manifest.keyId, keys.at(-1)?.keyId);
      assert.deepEqual([w.count('hello'), w.count('snapshot'), w.count('delta')], [1, 1, 0]);
      assert.deepEqual(w.requests[0], {
        instanceId: (w.requests[0] as { instanceId: string }).instanceId,
        attributes: { region: 'westus', service: 'e2e' },
        views: [{ namespace: 'e2e-initial', labels: ['', 'prod'] }],
      });
      const entry = await eventually(
        async () => {
          const found = await fleetEntry('e2e-initial', (w.requests[0] as { instanceId: string }).instanceId);
          return found?.status === 'applied' && found;
        },
        { message: 'the applied report', intervalMs: 25, fatal: () => true },
      );
      assert.equal(entry.seq, seq);
      assert.equal(entry.digest, snapshot?.digest);
      assert.deepEqual(entry.labels, ['', 'prod']);
      assert.deepEqual(entry.attributes, { region: 'westus', service: 'e2e' });
      assert.equal(entry.health, 'ok');
    } finally {
      await c.close();
    }
  });

  void it('a release arrives as one delta: change event with old and new values, cache rewritten', async () => {
    await createNamespace('e2e-delta', { 'feature/x': true, keep: 1, gone: 'soon' });
    const w = wire();
    const dir = cacheDir();
    const c = client({ views: [{ namespace: 'e2e-delta' }], fetch: w.fetch, cacheDir: dir });
    const changes = c.changes();
    try {
      await c.start();
      await c.ready();
      const first = await next('the first change', changes);
      assert.equal(first.via, 'snapshot');
      assert.equal(first.previous, undefined);
      await commit('e2e-delta', { 'feature/x': false, 'new/key': 'v', gone: undefined });
      const change: ViewChange = await next('the delta', changes);
      assert.equal(change.via, 'delta');
      assert.deepEqual(change.changedKeys, ['feature/x', 'gone', 'new/key']);
      assert.equal(change.oldValues['feature/x'], true);
      assert.equal(change.newValues['feature/x'], false);
      assert.equal(change.oldValues.gone, 'soon');
      assert.equal(Object.hasOwn(change.newValues, 'gone'), false);
      assert.equal(change.previous?.seq, first.current.seq);
      assert.equal(change.current.seq, await latestSeq('e2e-delta'));
      assert.deepEqual([w.count('snapshot'), w.count('delta')], [1, 1]);
      const delta = JSON.parse(w.events.find((e) => e.type === 'delta')?.data ?? '{}') as {
        set: object;
        remove: string[];
      };
      assert.deepEqual(delta.set, { 'feature/x': false, 'new/key': 'v' }, 'only what changed is on the wire');
      assert.deepEqual(delta.remove, ['gone']);
      const file = await readFile(
        join(dir, (await import('@herald/sdk/internal')).viewFileName({ namespace: 'e2e-delta', labels: [''] })),
        'utf8',
      );
      assert.equal(
        (JSON.parse(file) as { manifest: { seq: number } }).manifest.seq,
        change.current.seq,
        'persisted before being announced',
      );
    } finally {
      await c.close();
    }
  });

  void it('a client back after 1,000 missed releases gets a single delta', async () => {
    await createNamespace('e2e-resume', { counter: -1, stable: 'yes' });
    const dir = cacheDir();
    const first = client({ views: [{ namespace: 'e2e-resume' }], cacheDir: dir });
    await first.start();
    await first.ready();
    const held = first.snapshot('e2e-resume');
    await first.close();
    assert.ok(held);

    // 1,000 commits, so 1,000 releases (immediate policy); twenty at a time, the last one alone.
    for (let i = 0; i < 999; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, 999 - i) }, (_, j) => commit('e2e-resume', { counter: i + j })),
      );
    }
    await commit('e2e-resume', { counter: 999 });
    assert.equal(await latestSeq('e2e-resume'), held.seq + 1000);

    const w = wire();
    const second = client({ views: [{ namespace: 'e2e-resume' }], cacheDir: dir, fetch: w.fetch });
    const changes = second.changes();
    try {
      await second.start();
      await second.ready();
      assert.equal(second.snapshot('e2e-resume')?.source, 'cache', 'ready at once, from the cache');
      const resumed = await next('the catch-up', changes, (c) => c.via !== 'cache');
      assert.equal(resumed.via, 'delta');
      assert.equal(resumed.previous?.seq, held.seq);
      assert.equal(resumed.current.seq, held.seq + 1000);
      assert.deepEqual(resumed.changedKeys, ['counter']);
      assert.equal(second.get('e2e-resume', 'counter'), 999);
      assert.deepEqual((w.requests[0] as { views: unknown }).views, [
        { namespace: 'e2e-resume', labels: [''], seq: held.seq, digest: held.digest },
      ]);
      // Give a stray event time to arrive, then count: one delta, no snapshot, on one connection.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual([w.connections, w.count('snapshot'), w.count('delta')], [1, 0, 1]);
    } finally {
      await second.close();
    }
  });

  void it('ready() resolves from the verified cache while the server is down', async () => {
    const own = await startTestServer();
    const ownKeys = (await own.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
    await createNamespace('e2e-offline', { 'db/host': 'db.internal', 'db/pool/max': 12 }, own);
    const dir = cacheDir();
    const options = {
      url: own.url,
      token: own.adminToken,
      instanceId: 'offline-1',
      views: [{ namespace: 'e2e-offline' }],
      trustedKeys: ownKeys,
      cacheDir: dir,
    };
    const online = new HeraldClient(options);
    await online.start();
    await online.ready();
    const held = online.snapshot('e2e-offline');
    await online.close();
    await own.close();

    const offline = new HeraldClient({ ...options, reconnect: { baseMs: 50, capMs: 200 } });
    const statuses = offline.status();
    try {
      const started = Date.now();
      await offline.start();
      await offline.ready();
      assert.ok(Date.now() - started < 2000, 'at once, not after a connect timeout');
      assert.deepEqual({ ...offline.values('e2e-offline') }, { 'db/host': 'db.internal', 'db/pool/max': 12 });
      assert.equal(offline.snapshot('e2e-offline')?.digest, held?.digest);
      const stale = await next('stale-cache', statuses, isStatus('stale-cache'));
      assert.equal(stale.type === 'stale-cache' && stale.views[0]?.seq, held?.seq);
      const down = await next('disconnected', statuses, isStatus('disconnected'));
      assert.equal(down.type === 'disconnected' && (down.error as { code?: string }).code, 'unreachable');
    } finally {
      await offline.close();
    }
  });

  void it('refuses a replayed older signed release (lower seq), keeps what it holds and reports the refusal', async () => {
    await createNamespace('e2e-replay', { limit: 1 });
    let recorded: WireEvent | undefined;
    // The attacker keeps the first (genuine, signed) snapshot and replays it after the next release.
    const w = wire((event) => {
      if (event.type === 'snapshot' && !recorded) recorded = event;
      if (event.type === 'delta' && recorded) return [event, recorded];
      return [event];
    });
    const c = client({ views: [{ namespace: 'e2e-replay' }], fetch: w.fetch });
    const statuses = c.status();
    try {
      await c.start();
      await c.ready();
      const old = c.snapshot('e2e-replay');
      await commit('e2e-replay', { limit: 2 });
      const rejected = await next('the refusal', statuses, isStatus('rejected'));
      assert.equal(rejected.type === 'rejected' && rejected.code, 'seq_regressed');
      assert.equal(rejected.type === 'rejected' && rejected.seq, old?.seq);
      assert.equal(c.get('e2e-replay', 'limit'), 2, 'the newer release stays');
      assert.equal(c.snapshot('e2e-replay')?.seq, (old?.seq ?? 0) + 1);
    } finally {
      await c.close();
    }
  });

  void it('a proxy altering one byte of a delta value or of a manifest gets the release rejected, nothing applied; the next release recovers', async () => {
    const cases = [
      {
        name: 'e2e-tamper-value',
        expected: 'digest_mismatch',
        alter: (data: string) => data.replace('"limit":2', '"limit":3'),
      },
      {
        name: 'e2e-tamper-manifest',
        expected: 'bad_signature',
        alter: (data: string) =>
          data.replace(/"revision":(\d)/u, (_, d: string) => `"revision":${(Number(d) + 1) % 10}`),
      },
    ];
    for (const { name, expected, alter } of cases) {
      await createNamespace(name, { limit: 1 });
      const base = await latestSeq(name);
      const w = wire((event) =>
        withSeq(event) === base + 1 && event.type === 'delta' ? [{ ...event, data: alter(event.data) }] : [event],
      );
      const instanceId = `${name}-1`;
      const c = client({
        views: [{ namespace: name }],
        fetch: w.fetch,
        instanceId,
        reconnect: { baseMs: 20, capMs: 50 },
      });
      const statuses = c.status();
      const changes = c.changes();
      try {
        await c.start();
        await c.ready();
        await next('the snapshot', changes);
        await commit(name, { limit: 2 });
        const rejected = await next('the refusal', statuses, isStatus('rejected'));
        assert.equal(rejected.type === 'rejected' && rejected.code, expected, name);
        assert.equal(c.get(name, 'limit'), 1, `${name}: nothing applied`);
        assert.equal(c.snapshot(name)?.seq, base);
        const report = await eventually(
          async () => {
            const found = await fleetEntry(name, instanceId);
            return found?.status === 'rejected' && found;
          },
          { message: 'the reject report', intervalMs: 25, fatal: () => true },
        );
        assert.match(report.reason ?? '', new RegExp(`^${expected}: `, 'u'));
        // The next genuine release: the server moved on from the refused one, so the client
        // resynchronises (a new stream, stating what it really holds) and gets one good delta.
        await commit(name, { limit: 4 });
        const change = await next('the recovery', changes);
        assert.equal(change.current.seq, base + 2);
        assert.equal(c.get(name, 'limit'), 4);
        assert.equal(w.connections, 2);
        assert.deepEqual((w.requests[1] as { views: unknown[] }).views, [
          { namespace: name, labels: [''], seq: base, digest: change.previous?.digest },
        ]);
        await eventually(async () => (await fleetEntry(name, instanceId))?.status === 'applied', {
          message: 'the applied report',
          intervalMs: 25,
          fatal: () => true,
        });
      } finally {
        await c.close();
      }
    }
  });

  void it('a validate hook failure keeps the previous values and is reported as rejected with its reason', async () => {
    await createNamespace('e2e-validate', { limit: 5 });
    const instanceId = 'e2e-validate-1';
    const seen: number[] = [];
    const c = client({
      instanceId,
      views: [{ namespace: 'e2e-validate' }],
      reconnect: { baseMs: 20, capMs: 50 },
      validate: async (values, view) => {
        seen.push(view.seq);
        const limit = values.limit;
        if (typeof limit !== 'number') throw new Error('limit must be a number');
        return limit > 100 ? `limit ${limit} is above 100` : undefined;
      },
    });
    const statuses = c.status();
    const changes = c.changes();
    try {
      await c.start();
      await c.ready();
      await next('the snapshot', changes);
      const good = c.snapshot('e2e-validate');
      await commit('e2e-validate', { limit: 500 });
      const rejected = await next('the refusal', statuses, isStatus('rejected'));
      assert.equal(rejected.type === 'rejected' && rejected.code, 'validation_failed');
      assert.equal(rejected.type === 'rejected' && rejected.reason, 'limit 500 is above 100');
      assert.equal(c.get('e2e-validate', 'limit'), 5);
      assert.equal(c.snapshot('e2e-validate')?.seq, good?.seq);
      const report = await eventually(
        async () => {
          const found = await fleetEntry('e2e-validate', instanceId);
          return found?.status === 'rejected' && found;
        },
        { message: 'the reject report', intervalMs: 25, fatal: () => true },
      );
      assert.equal(report.reason, 'validation_failed: limit 500 is above 100');
      assert.equal(report.seq, (good?.seq ?? 0) + 1, 'the fleet sees which release was refused');

      await commit('e2e-validate', { limit: 'many' });
      const thrown = await next('the second refusal', statuses, isStatus('rejected'));
      assert.equal(thrown.type === 'rejected' && thrown.reason, 'limit must be a number');

      await commit('e2e-validate', { limit: 50 });
      const change = await next('the accepted release', changes);
      assert.equal(change.oldValues.limit, 5);
      assert.equal(change.newValues.limit, 50);
      const applied = await eventually(
        async () => {
          const found = await fleetEntry('e2e-validate', instanceId);
          return found?.status === 'applied' && found;
        },
        { message: 'the applied report', intervalMs: 25, fatal: () => true },
      );
      assert.equal(applied.seq, (good?.seq ?? 0) + 3);
      assert.deepEqual(seen, [good?.seq, (good?.seq ?? 0) + 1, (good?.seq ?? 0) + 2, (good?.seq ?? 0) + 3]);
    } finally {
      await c.close();
    }
  });

  void it('reportHealth sends a report soon with the new health', async () => {
    await createNamespace('e2e-health', { a: 1 });
    const instanceId = 'e2e-health-1';
    const c = client({ instanceId, views: [{ namespace: 'e2e-health' }] });
    try {
      await c.start();
      await c.ready();
      await eventually(async () => (await fleetEntry('e2e-health', instanceId))?.health === 'ok', {
        message: 'the first report',
        intervalMs: 25,
        fatal: () => true,
      });
      c.reportHealth('failing', 'database unreachable');
      await eventually(async () => (await fleetEntry('e2e-health', instanceId))?.health === 'failing', {
        message: 'the health report',
        intervalMs: 25,
        fatal: () => true,
      });
    } finally {
      await c.close();
    }
  });

  void it('trusts a rotated key through the endorsement of the key it pinned, and persists it', async () => {
    const own = await startTestServer();
    try {
      const pinned = (await own.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
      await createNamespace('e2e-rotate', { v: 1 }, own);
      const dir = cacheDir();
      const c = new HeraldClient({
        url: own.url,
        token: own.adminToken,
        instanceId: 'rotate-1',
        views: [{ namespace: 'e2e-rotate' }],
        trustedKeys: pinned,
        cacheDir: dir,
      });
      const statuses = c.status();
      const changes = c.changes();
      try {
        await c.start();
        await c.ready();
        const rotated = await own.admin.post<PublicKeyInfo>('/v1/keys/rotate', {});
        const learned = await next('keys-learned', statuses, isStatus('keys-learned'));
        assert.deepEqual(learned.type === 'keys-learned' && learned.keyIds, [rotated.keyId]);
        await commit('e2e-rotate', { v: 2 }, undefined, own);
        const change = await next('a release signed with the new key', changes, (ch) => ch.current.seq > 1);
        assert.equal(change.current.manifest.keyId, rotated.keyId);
        const file = JSON.parse(await readFile(join(dir, 'keys.json'), 'utf8')) as { published: PublicKeyInfo[] };
        assert.ok(file.published.some((k) => k.keyId === rotated.keyId));
      } finally {
        await c.close();
      }
      // A restart with only the original key pinned trusts the cached release signed by the new one.
      const again = new HeraldClient({
        url: 'http://127.0.0.1:1',
        token: 't',
        instanceId: 'rotate-1',
        views: [{ namespace: 'e2e-rotate' }],
        trustedKeys: pinned,
        cacheDir: dir,
      });
      try {
        await again.start();
        await again.ready();
        assert.equal(again.get('e2e-rotate', 'v'), 2);
      } finally {
        await again.close();
      }
    } finally {
      await own.close();
    }
  });

  void it("trusts the server's keys on first use, says so, and pins them in the cache", async () => {
    await createNamespace('e2e-tofu', { v: 1 });
    const dir = cacheDir();
    const c = client({ views: [{ namespace: 'e2e-tofu' }], trustedKeys: 'tofu', cacheDir: dir });
    const statuses = c.status();
    try {
      await c.start();
      await c.ready();
      const tofu = await next('trusted-on-first-use', statuses, isStatus('trusted-on-first-use'));
      assert.deepEqual(
        tofu.type === 'trusted-on-first-use' && tofu.keys.map((k) => k.keyId),
        keys.map((k) => k.keyId),
      );
    } finally {
      await c.close();
    }
    const file = JSON.parse(await readFile(join(dir, 'keys.json'), 'utf8')) as { pinned: PublicKeyInfo[] };
    assert.deepEqual(
      file.pinned.map((k) => k.keyId),
      keys.map((k) => k.keyId),
    );
    // Restarted with the control plane away: the pinned keys verify the cache; no second first use.
    const again = new HeraldClient({
      url: 'http://127.0.0.1:1',
      token,
      instanceId: 'tofu',
      views: [{ namespace: 'e2e-tofu' }],
      trustedKeys: 'tofu',
      cacheDir: dir,
    });
    const statuses2 = again.status();
    try {
      await again.start();
      await again.ready();
      assert.equal(again.get('e2e-tofu', 'v'), 1);
      await next('disconnected', statuses2, isStatus('disconnected'));
    } finally {
      await again.close();
    }
  });

  void it('waits out 503 + Retry-After when the server sheds load, then connects', async () => {
    const own = await startTestServer({ config: { maxWatchStreams: 1, retryAfterSeconds: 1 } });
    try {
      const ownKeys = (await own.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
      await createNamespace('e2e-shed', { v: 1 }, own);
      const options = {
        url: own.url,
        token: own.adminToken,
        views: [{ namespace: 'e2e-shed' }],
        trustedKeys: ownKeys,
        reconnect: { baseMs: 10, capMs: 20 },
      };
      const first = new HeraldClient({ ...options, instanceId: 'shed-1' });
      await first.start();
      await first.ready();
      const second = new HeraldClient({ ...options, instanceId: 'shed-2' });
      const statuses = second.status();
      try {
        await second.start();
        const down = await next('the 503', statuses, isStatus('disconnected'));
        const error =
          down.type === 'disconnected' ? (down.error as { code?: string; status?: number; retryAfterMs?: number }) : {};
        assert.deepEqual([error.code, error.status, error.retryAfterMs], ['http_error', 503, 1000]);
        const wait = await next('reconnecting', statuses, isStatus('reconnecting'));
        assert.ok(
          wait.type === 'reconnecting' && wait.delayMs >= 1000 && wait.delayMs <= 1020,
          'Retry-After plus jitter',
        );
        await first.close();
        await second.ready();
        assert.equal(second.get('e2e-shed', 'v'), 1);
      } finally {
        await second.close();
        await first.close();
      }
    } finally {
      await own.close();
    }
  });

  void it('treats 429 too_many_streams like a shed: waits out Retry-After, then connects once a slot is free', async () => {
    const own = await startTestServer({ config: { maxStreamsPerToken: 1, retryAfterSeconds: 1 } });
    try {
      const ownKeys = (await own.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
      await createNamespace('e2e-capped', { v: 1 }, own);
      const options = {
        url: own.url,
        token: own.adminToken,
        views: [{ namespace: 'e2e-capped' }],
        trustedKeys: ownKeys,
        reconnect: { baseMs: 10, capMs: 20 },
      };
      const first = new HeraldClient({ ...options, instanceId: 'capped-1' });
      await first.start();
      await first.ready();
      const second = new HeraldClient({ ...options, instanceId: 'capped-2' });
      const statuses = second.status();
      try {
        await second.start();
        const down = await next('the 429', statuses, isStatus('disconnected'));
        const error =
          down.type === 'disconnected'
            ? (down.error as { serverCode?: string; status?: number; retryAfterMs?: number })
            : {};
        assert.deepEqual([error.serverCode, error.status, error.retryAfterMs], ['too_many_streams', 429, 1000]);
        const wait = await next('reconnecting', statuses, isStatus('reconnecting'));
        assert.ok(
          wait.type === 'reconnecting' && wait.delayMs >= 1000 && wait.delayMs <= 1020,
          'Retry-After plus jitter',
        );
        await first.close();
        await second.ready();
        assert.equal(second.get('e2e-capped', 'v'), 1);
      } finally {
        await second.close();
        await first.close();
      }
    } finally {
      await own.close();
    }
  });

  void it('close() releases everything: a process that closes its client exits by itself', async () => {
    await createNamespace('e2e-exit', { v: 1 });
    const sdk = fileURLToPath(new URL('../src/index.js', import.meta.url));
    const script = `
      const { HeraldClient } = await import(${JSON.stringify(sdk)});
      const client = new HeraldClient({
        url: ${JSON.stringify(ts.url)}, token: ${JSON.stringify(token)}, instanceId: 'exit-1',
        views: [{ namespace: 'e2e-exit' }], trustedKeys: ${JSON.stringify(keys)},
        cacheDir: ${JSON.stringify(cacheDir())}, reportIntervalMs: 100,
      });
      await client.start();
      await client.ready();
      client.reportHealth('degraded', 'about to stop');
      // Until the fleet shows the report, so that its absence after close() says the instance left.
      let seen = false;
      for (let attempt = 0; attempt < 200 && !seen; attempt++) {
        const fleet = await (await fetch(${JSON.stringify(ts.url)} + '/v1/fleet/e2e-exit', {
          headers: { authorization: 'Bearer ' + ${JSON.stringify(ts.adminToken)} },
        })).json();
        seen = fleet.instances.some((x) => x.instanceId === 'exit-1' && x.health === 'degraded');
        if (!seen) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (!seen) throw new Error('the degraded report never reached the fleet');
      process.stdout.write('reported\\n');
      await client.close();
      process.stdout.write('closed ' + (await client.closed()) + '\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let closedAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('closed')) closedAt ||= Date.now();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the process did not exit after close(): ${stdout} ${stderr}`));
      }, 15_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'reported\nclosed undefined\n');
    assert.ok(
      Date.now() - closedAt < 2000,
      `exited ${Date.now() - closedAt} ms after close(): something held the event loop`,
    );
    // The last report went out: it said the instance was leaving, and the fleet has it no more.
    assert.equal(await fleetEntry('e2e-exit', 'exit-1'), undefined, 'the last report went out');
  });
});
