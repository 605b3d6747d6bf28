// Issue 18, storm admission: a reconnect storm is admitted at the node's pace. Past
// watchAdmissionsPerSecond a watch gets 503 watch_deferred with a Retry-After that books it into
// the earliest second with room, and every watcher that comes back when told is admitted. The
// pacing of a starting node's early socket carries on once the node is ready.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { eventually, startTestServer, testAdminToken, untilHello, type TestServer } from '@herald/testkit';
import { defaultServerConfig } from '../src/config.js';
import { connectionLimitsOf } from '../src/http/connection-limits.js';
import { listenEarly, type EarlyListener } from '../src/http/early-listener.js';
import { WatchAdmission } from '../src/http/watch-admission.js';
import { createNamespace } from './helpers.js';

void describe('WatchAdmission (pure, on a manual clock)', () => {
  void it('admits a second of watchers at once, then books the rest into the coming seconds, rate by rate', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const admission = new WatchAdmission({ perSecond: 10, clock });
    const answers = Array.from({ length: 45 }, () => admission.admit());
    assert.equal(answers.filter((a) => a === undefined).length, 10);
    const waits = answers.filter((a): a is number => a !== undefined);
    // 35 deferred: 10 told 1 s, 10 told 2 s, 10 told 3 s, 5 told 4 s.
    assert.deepEqual(
      [1, 2, 3, 4].map((s) => waits.filter((w) => w === s).length),
      [10, 10, 10, 5],
    );
    assert.equal(admission.queued, 35);
  });

  void it('refills with time: those told to come back in a second are admitted in it', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const admission = new WatchAdmission({ perSecond: 4, clock });
    const first = Array.from({ length: 8 }, () => admission.admit());
    assert.deepEqual(first, [undefined, undefined, undefined, undefined, 1, 1, 1, 1]);
    clock.advance(1000);
    // The four booked for this second come back and are admitted; the second is no longer queued.
    assert.deepEqual(
      Array.from({ length: 4 }, () => admission.admit()),
      [undefined, undefined, undefined, undefined],
    );
    assert.equal(admission.queued, 0);
    // A newcomer past the bucket is booked into the next second with room.
    assert.equal(admission.admit(), 1);
  });

  void it('never tells a watcher to wait past maxWaitSeconds', () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const admission = new WatchAdmission({ perSecond: 1, clock, maxWaitSeconds: 3 });
    const answers = Array.from({ length: 10 }, () => admission.admit());
    assert.deepEqual(answers, [undefined, 1, 2, 3, 3, 3, 3, 3, 3, 3]);
  });

  void it('refuses a rate that is not positive', () => {
    assert.throws(() => new WatchAdmission({ perSecond: 0, clock: new ManualClock() }), RangeError);
  });
});

void describe('watch admission over real HTTP', () => {
  let ts: TestServer;
  const open: AbortController[] = [];
  // The node's time is the test's: a burst never straddles a second, and coming back "after
  // Retry-After" is the clock moved on, not a sleep.
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 0, 250));

  before(async () => {
    ts = await startTestServer({ clock, config: { watchAdmissionsPerSecond: 3 } });
    await createNamespace(ts, 'storm');
  });

  after(async () => {
    for (const controller of open) controller.abort();
    await ts.close();
  });

  /** One watch: 'admitted' once its hello arrives (the stream stays open), else the refusal's code and Retry-After. */
  async function watch(i: number): Promise<{ admitted: true } | { admitted: false; code: string; retryAfter: number }> {
    const controller = new AbortController();
    const response = await fetch(new URL('/v1/watch', ts.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${ts.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ instanceId: `storm-${i}`, views: [{ namespace: 'storm' }] }),
      signal: controller.signal,
    });
    if (response.status !== 200) {
      const body = (await response.json()) as { code: string };
      assert.equal(response.status, 503);
      return { admitted: false, code: body.code, retryAfter: Number(response.headers.get('retry-after')) };
    }
    open.push(controller);
    await untilHello(response);
    return { admitted: true };
  }

  void it('a burst past the rate gets 503 watch_deferred with Retry-After, and every watcher coming back when told is admitted', async () => {
    const burst = 12;
    const first = await Promise.all(Array.from({ length: burst }, (_, i) => watch(i)));
    const deferred = first.flatMap((r, i) => (r.admitted ? [] : [{ i, ...r }]));
    assert.equal(deferred.length, burst - 3, 'a second’s worth admitted, the rest deferred');
    for (const d of deferred) {
      assert.equal(d.code, 'watch_deferred');
      assert.ok(d.retryAfter >= 1 && d.retryAfter <= 60, `Retry-After ${d.retryAfter}`);
    }
    // Spread: each coming second is promised to as many watchers as the rate, no more.
    const perSecond = new Map<number, number>();
    for (const d of deferred) perSecond.set(d.retryAfter, (perSecond.get(d.retryAfter) ?? 0) + 1);
    assert.deepEqual(
      [...perSecond].sort(([a], [b]) => a - b),
      [
        [1, 3],
        [2, 3],
        [3, 3],
      ],
    );

    // Each comes back when told, and is admitted.
    let pending = deferred.map((d) => ({ i: d.i, retryAfter: d.retryAfter }));
    for (let round = 0; pending.length > 0; round += 1) {
      assert.ok(round < 10, `still deferred after 10 rounds: ${pending.length}`);
      const soonest = Math.min(...pending.map((p) => p.retryAfter));
      clock.advance(soonest * 1000);
      const due = pending.filter((p) => p.retryAfter === soonest);
      const later = pending
        .filter((p) => p.retryAfter !== soonest)
        .map((p) => ({ ...p, retryAfter: p.retryAfter - soonest }));
      const again = await Promise.all(due.map(async (p) => ({ i: p.i, result: await watch(p.i) })));
      pending = [
        ...later,
        ...again.flatMap(({ i, result }) => (result.admitted ? [] : [{ i, retryAfter: result.retryAfter }])),
      ];
    }
    const metrics = await ts.server.metrics.registry.getSingleMetricAsString('herald_streams_refused_total');
    assert.match(metrics, /reason="admission"\} \d+/u);
  });
});

void describe('watch admission across the start', () => {
  const start = Date.UTC(2026, 0, 1, 0, 0, 0, 250);
  /** What each test opened, closed after it, newest first (the server before the socket it took over). */
  const opened: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of opened.splice(0).reverse()) await close();
  });

  async function early(clock: ManualClock, holdWatchesMs?: number): Promise<EarlyListener> {
    const listener = await listenEarly({
      host: '127.0.0.1',
      port: 0,
      tls: null,
      limits: connectionLimitsOf(defaultServerConfig),
      backlog: defaultServerConfig.listenBacklog,
      retryAfterSeconds: 1,
      watchAdmission: { perSecond: 2, clock },
      holdWatchesMs,
    });
    opened.push(() => listener.close());
    return listener;
  }

  /** The node that takes `listener`'s socket over, with a namespace `start`. */
  async function ready(clock: ManualClock, listener: EarlyListener): Promise<void> {
    const ts = await startTestServer({ clock, listener, config: { watchAdmissionsPerSecond: 2 } });
    opened.push(() => ts.close());
    await createNamespace(ts, 'start');
  }

  /** A watch to the node on `listener`'s socket: its status, code and Retry-After; a 200 is read to its hello. */
  async function watch(
    listener: EarlyListener,
    i: number,
  ): Promise<{ status: number; code?: string; retryAfter: string | null }> {
    const { port } = listener.server.address() as { port: number };
    const response = await fetch(`http://127.0.0.1:${port}/v1/watch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ instanceId: `start-${i}`, views: [{ namespace: 'start' }] }),
      signal: AbortSignal.timeout(10_000),
    });
    const retryAfter = response.headers.get('retry-after');
    if (response.status !== 200)
      return { status: response.status, code: ((await response.json()) as { code: string }).code, retryAfter };
    await (await untilHello(response)).cancel();
    return { status: 200, retryAfter };
  }

  void it('watchers told when to come back while the node started stay booked once it is ready', async () => {
    const clock = new ManualClock(start);
    const listener = await early(clock);
    // While starting: booked into the coming seconds, two a second; the current second is left alone.
    assert.deepEqual(await watch(listener, 1), { status: 503, code: 'starting', retryAfter: '1' });
    assert.deepEqual(await watch(listener, 2), { status: 503, code: 'starting', retryAfter: '1' });
    assert.deepEqual(await watch(listener, 3), { status: 503, code: 'starting', retryAfter: '2' });

    await ready(clock, listener);
    // Ready: this second's two admissions are the node's own.
    assert.equal((await watch(listener, 4)).status, 200);
    assert.equal((await watch(listener, 5)).status, 200);
    // Past them, the next second already holds the two booked while starting, the one after one:
    // a pacing that forgot the start would say 1.
    assert.deepEqual(await watch(listener, 6), { status: 503, code: 'watch_deferred', retryAfter: '2' });
  });

  void it('a watch that arrives while the node starts is held and served once it is ready; past a second of them, told when to come back', async () => {
    const clock = new ManualClock(start);
    const listener = await early(clock, 60_000);
    const held = [watch(listener, 1), watch(listener, 2)];
    await eventually(() => listener.heldWatches === 2, { message: 'both watches held' });
    // One second's admissions are held: the third is answered, booked into the next second.
    assert.deepEqual(await watch(listener, 3), { status: 503, code: 'starting', retryAfter: '1' });
    let answered = false;
    void Promise.all(held).then(() => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(answered, false, 'the held watches wait for the node');

    await ready(clock, listener);
    // Served as soon as the node takes its socket over. The namespace is created after that, so
    // a held watch may meet namespace_not_found first: what matters is that the node answers it.
    const results = await Promise.all(held);
    for (const result of results)
      assert.ok(result.status === 200 || result.code === 'namespace_not_found', JSON.stringify(result));
    assert.equal(listener.heldWatches, 0);
  });

  void it('a held watch is answered starting when the node does not become ready within the hold', async () => {
    const clock = new ManualClock(start);
    const listener = await early(clock, 5_000);
    const pending = watch(listener, 1);
    await eventually(() => listener.heldWatches === 1, { message: 'the watch held' });
    clock.advance(5_000);
    assert.deepEqual(await pending, { status: 503, code: 'starting', retryAfter: '1' });
  });
});
