// The client with no control plane reachable (a refused port): options, lifecycle, signals,
// status events, backoff on the injected clock, and start-up from the verified disk cache.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeraldClient, type ClientStatus, type HeraldClientOptions } from '@herald/sdk';
import { DiskCache } from '@herald/sdk/internal';
import { ManualTimers } from './clock.js';
import { newKey, publicInfo, signView } from './fixtures.js';

// Nothing listens on port 1 of the loopback: connections are refused at once.
const unreachable = 'http://127.0.0.1:1';
const key = newKey('k-1');

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'herald-sdk-offline-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function options(overrides: Partial<HeraldClientOptions> = {}): HeraldClientOptions {
  return {
    url: unreachable,
    token: 'client-token',
    instanceId: 'web-1',
    views: [{ namespace: 'payments', labels: ['prod'] }],
    trustedKeys: [publicInfo(key)],
    ...overrides,
  };
}

/** Reads status events until one of `type` arrives; returns it and everything before it. */
async function until<T extends ClientStatus['type']>(
  statuses: AsyncIterator<ClientStatus>,
  type: T,
): Promise<{ found: Extract<ClientStatus, { type: T }>; seen: ClientStatus[] }> {
  const seen: ClientStatus[] = [];
  for (;;) {
    const next = await statuses.next();
    if (next.done) throw new Error(`status ended before "${type}"; saw ${seen.map((s) => s.type).join(', ')}`);
    seen.push(next.value);
    if (next.value.type === type) return { found: next.value as Extract<ClientStatus, { type: T }>, seen };
  }
}

async function seedCache(
  dir: string,
  views: Array<{ namespace: string; labels: string[]; seq: number; values: Record<string, unknown> }>,
): Promise<void> {
  const cache = new DiskCache(dir);
  await cache.open();
  for (const v of views) {
    const signed = signView(key, { namespace: v.namespace, labels: v.labels, seq: v.seq, values: v.values });
    await cache.writeView(
      { namespace: v.namespace, labels: v.labels },
      { manifest: signed.manifest, signature: signed.signature, values: signed.values },
    );
  }
}

void describe('options', () => {
  void it('are checked at construction, with a coded error naming the option', () => {
    const bad: Array<[string, Partial<HeraldClientOptions>]> = [
      ['url', { url: 'not a url' }],
      ['url', { url: 'ftp://x' }],
      ['token', { token: '' }],
      ['instanceId', { instanceId: '' }],
      ['views', { views: [] }],
      ['views', { views: Array.from({ length: 65 }, (_, i) => ({ namespace: `n${i}` })) }],
      ['repeats', { views: [{ namespace: 'a' }, { namespace: 'a', labels: [''] }] }],
      ['labels', { views: [{ namespace: 'a', labels: 'prod' as unknown as string[] }] }],
      ['trustedKeys', { trustedKeys: [] }],
      ['trustedKeys', { trustedKeys: [{ keyId: 'k', publicKey: 'c2hvcnQ=', createdAt: 1 }] }],
      ['trustedKeys', { trustedKeys: undefined as unknown as [] }],
      ['attribute', { attributes: { replicas: 3 as unknown as string } }],
      ['reportIntervalMs', { reportIntervalMs: 0 }],
      ['validate', { validate: 'yes' as unknown as () => void }],
    ];
    for (const [name, override] of bad) {
      assert.throws(
        () => new HeraldClient(options(override)),
        (error: { code?: string; message: string }) => error.code === 'invalid_options' && error.message.includes(name),
        name,
      );
    }
  });
});

void describe('lifecycle', () => {
  void it('close() before start(): idempotent, closed() resolves, start() then refuses', async () => {
    const client = new HeraldClient(options());
    const first = client.close();
    assert.equal(client.close(), first, 'the same promise');
    await first;
    assert.equal(await client.closed(), undefined);
    assert.equal(client.isClosed, true);
    await assert.rejects(client.start(), { code: 'client_closed' });
    await assert.rejects(client.ready(), { code: 'client_closed' });
    // Iterators made after close end at once.
    assert.deepEqual(await client.status().next(), { value: undefined, done: true });
    assert.deepEqual(await client.changes().next(), { value: undefined, done: true });
  });

  void it('an already aborted signal: start() rejects with its reason, closed() resolves with it', async () => {
    const reason = new Error('shutting down');
    const client = new HeraldClient(options({ signal: AbortSignal.abort(reason) }));
    await assert.rejects(client.start(), (error) => error === reason);
    assert.equal(await client.closed(), reason);
  });

  void it('a signal aborted later destroys the client with its reason and removes the listener', async () => {
    const controller = new AbortController();
    const clock = new ManualTimers();
    const client = new HeraldClient(options({ signal: controller.signal, clock }));
    const statuses = client.status();
    await client.start();
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    controller.abort('bye');
    const closed = await client.closed();
    assert.ok(closed instanceof Error);
    assert.equal((closed as { code?: string }).code, 'aborted');
    assert.equal(closed.cause, 'bye', 'a non-Error reason is kept as the cause');
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    const { found } = await until(statuses, 'closed');
    assert.equal(found.error, closed);
    assert.deepEqual(await statuses.next(), { value: undefined, done: true });
    assert.deepEqual(clock.pending(), [], 'no timer left behind');
  });

  void it('close() removes the signal listener too', async () => {
    const controller = new AbortController();
    const client = new HeraldClient(options({ signal: controller.signal, clock: new ManualTimers() }));
    await client.start();
    await client.close();
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    assert.equal(await client.closed(), undefined);
  });

  void it('destroy(error) resolves closed() with the error and never rejects it', async () => {
    const client = new HeraldClient(options({ clock: new ManualTimers() }));
    await client.start();
    const error = new Error('boom');
    await client.destroy(error);
    await client.destroy(new Error('again'));
    assert.equal(await client.closed(), error);
  });

  void it('[Symbol.asyncDispose] closes', async () => {
    let held: HeraldClient;
    {
      await using client = new HeraldClient(options({ clock: new ManualTimers() }));
      held = client;
      await client.start();
    }
    assert.equal(held.isClosed, true);
    assert.equal(await held.closed(), undefined);
  });
});

void describe('reconnecting', () => {
  void it('reports connecting, disconnected (unreachable) and reconnecting, and waits on the injected clock', async () => {
    const clock = new ManualTimers();
    const client = new HeraldClient(options({ clock, reconnect: { random: () => 0.5 }, reportIntervalMs: 60_000 }));
    const statuses = client.status();
    await client.start();
    const first = await until(statuses, 'reconnecting');
    assert.deepEqual(
      first.seen.map((s) => s.type),
      ['connecting', 'disconnected', 'reconnecting'],
    );
    const disconnected = first.seen[1] as Extract<ClientStatus, { type: 'disconnected' }>;
    assert.equal((disconnected.error as { code?: string }).code, 'unreachable');
    assert.equal(first.found.delayMs, 250, 'half of the 500 ms ceiling');
    assert.equal(first.found.attempt, 1);
    // Nothing happens until the clock moves.
    clock.advance(249);
    const raced = await Promise.race([
      statuses.next(),
      new Promise((resolve) => setTimeout(() => resolve('quiet'), 50)),
    ]);
    assert.equal(raced, 'quiet');
    clock.advance(1);
    // The pending next() from the race gets the connecting event.
    const second = await until(statuses, 'reconnecting');
    assert.equal(second.found.delayMs, 500, 'the ceiling doubled');
    clock.advance(500);
    const third = await until(statuses, 'reconnecting');
    assert.equal(third.found.delayMs, 1000);
    await client.close();
    await until(statuses, 'closed');
    assert.deepEqual(clock.pending(), []);
  });

  void it('ready() waits, honours its own signal, and rejects when the client closes first', async () => {
    const client = new HeraldClient(options({ clock: new ManualTimers() }));
    await client.start();
    await assert.rejects(client.ready({ signal: AbortSignal.abort(new Error('gave up')) }), { message: 'gave up' });
    const controller = new AbortController();
    const waiting = client.ready({ signal: controller.signal });
    controller.abort(new Error('later'));
    await assert.rejects(waiting, { message: 'later' });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    const pending = client.ready();
    await client.close();
    await assert.rejects(pending, { code: 'client_closed' });
  });
});

void describe('start-up from the verified cache', () => {
  void it('ready() resolves at once from the cache with no control plane, and says the values are stale', async () => {
    const cacheDir = join(root, 'good');
    await seedCache(cacheDir, [
      { namespace: 'payments', labels: ['', 'prod'], seq: 7, values: { 'db/pool/max': 20, 'feature/x': true } },
      { namespace: 'search', labels: [''], seq: 2, values: { shards: 3 } },
    ]);
    const client = new HeraldClient(
      options({
        cacheDir,
        clock: new ManualTimers(),
        views: [{ namespace: 'payments', labels: ['', 'prod'] }, { namespace: 'search' }],
      }),
    );
    const statuses = client.status();
    const changes = client.changes();
    await client.start();
    await client.ready();
    assert.equal(client.get<number>('payments', 'db/pool/max'), 20);
    assert.equal(client.get('payments', 'missing'), undefined);
    assert.deepEqual({ ...client.values('search') }, { shards: 3 });
    const snapshot = client.snapshot('payments', ['', 'prod']);
    assert.equal(snapshot?.seq, 7);
    assert.equal(snapshot?.source, 'cache');
    assert.ok(Object.isFrozen(snapshot?.values));
    assert.throws(() => {
      (client.values('search') as Record<string, unknown>).shards = 4;
    }, TypeError);
    const { found } = await until(statuses, 'stale-cache');
    assert.deepEqual(
      found.views.map((v) => [v.namespace, v.seq]),
      [
        ['payments', 7],
        ['search', 2],
      ],
    );
    const first = await changes.next();
    assert.equal(first.value?.via, 'cache');
    assert.deepEqual(first.value?.changedKeys, ['db/pool/max', 'feature/x']);
    assert.equal(first.value?.previous, undefined);
    await client.close();
  });

  void it('ignores a tampered cache file (and says so), and a file whose values the validate hook now refuses', async () => {
    const cacheDir = join(root, 'tampered');
    await seedCache(cacheDir, [
      { namespace: 'payments', labels: ['', 'prod'], seq: 7, values: { 'db/pool/max': 20 } },
      { namespace: 'search', labels: [''], seq: 2, values: { shards: 3 } },
    ]);
    const cache = new DiskCache(cacheDir);
    const path = cache.viewPath({ namespace: 'payments', labels: ['', 'prod'] });
    const file = JSON.parse(await (await import('node:fs/promises')).readFile(path, 'utf8')) as {
      values: Record<string, unknown>;
    };
    await writeFile(path, JSON.stringify({ ...file, values: { 'db/pool/max': 9999 } }));
    const client = new HeraldClient(
      options({
        cacheDir,
        clock: new ManualTimers(),
        views: [{ namespace: 'payments', labels: ['', 'prod'] }, { namespace: 'search' }],
        validate: (values) => (values.shards === 3 ? 'shards must not be 3 any more' : undefined),
      }),
    );
    const statuses = client.status();
    await client.start();
    const first = await until(statuses, 'cache-ignored');
    assert.equal(first.found.code, 'digest_mismatch');
    assert.equal(first.found.file, path);
    const second = await until(statuses, 'cache-ignored');
    assert.equal(second.found.code, 'validation_failed');
    assert.equal(second.found.reason, 'shards must not be 3 any more');
    assert.equal(client.values('payments'), undefined, 'never trusted');
    assert.equal(client.values('search'), undefined);
    // (AbortSignal.timeout's timer does not keep the loop alive, and nothing else would here.)
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('not ready')), 50);
    await assert.rejects(client.ready({ signal: controller.signal }), { message: 'not ready' });
    await client.close();
  });

  void it('get() names the view: unknown_view, ambiguous_view', async () => {
    const client = new HeraldClient(
      options({
        views: [
          { namespace: 'a', labels: ['x'] },
          { namespace: 'a', labels: ['y'] },
        ],
      }),
    );
    assert.throws(() => client.get('b', 'k'), { code: 'unknown_view' });
    assert.throws(() => client.get('a', 'k'), { code: 'ambiguous_view' });
    assert.throws(() => client.get('a', 'k', { labels: ['z'] }), { code: 'unknown_view' });
    assert.equal(client.get('a', 'k', { labels: ['x'] }), undefined, 'no values yet');
    assert.throws(
      () => client.get('a', 'k', { labels: ['', 'x'] }),
      { code: 'unknown_view' },
      '[x] and ["", x] are different stacks',
    );
    await client.close();
  });
});
