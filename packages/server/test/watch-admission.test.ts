// Issue 18, storm admission: a reconnect storm is admitted at the node's pace. Past
// watchAdmissionsPerSecond a watch gets 503 watch_deferred with a Retry-After that books it into
// the earliest second with room, and every watcher that comes back when told is admitted. The
// pacing of a starting node's early socket carries on once the node is ready.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { startTestServer, testAdminToken, type TestServer } from '@herald/testkit';
import { defaultServerConfig } from '../src/config.js';
import { connectionLimitsOf } from '../src/http/connection-limits.js';
import { listenEarly } from '../src/http/early-listener.js';
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

  before(async () => {
    ts = await startTestServer({ config: { watchAdmissionsPerSecond: 3 } });
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
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('event: hello')) {
      const chunk = await reader.read();
      assert.equal(chunk.done, false, 'the stream ended before its hello');
      text += new TextDecoder().decode(chunk.value as Uint8Array);
    }
    return { admitted: true };
  }

  void it('a burst past the rate gets 503 watch_deferred with Retry-After, and every watcher coming back when told is admitted', async () => {
    const burst = 12;
    const first = await Promise.all(Array.from({ length: burst }, (_, i) => watch(i)));
    const deferred = first.flatMap((r, i) => (r.admitted ? [] : [{ i, ...r }]));
    assert.ok(deferred.length >= burst - 4, `most of the burst is deferred (${deferred.length} of ${burst})`);
    for (const d of deferred) {
      assert.equal(d.code, 'watch_deferred');
      assert.ok(d.retryAfter >= 1 && d.retryAfter <= 60, `Retry-After ${d.retryAfter}`);
    }
    // Spread: no second is promised to more watchers than the rate.
    const perSecond = new Map<number, number>();
    for (const d of deferred) perSecond.set(d.retryAfter, (perSecond.get(d.retryAfter) ?? 0) + 1);
    for (const [second, count] of perSecond) assert.ok(count <= 3, `${count} watchers told ${second} s`);

    // Each comes back after its Retry-After (a client adds its own jitter; a second-boundary
    // arrival may be booked once more), and is admitted.
    let pending = deferred.map((d) => ({ i: d.i, retryAfter: d.retryAfter }));
    for (let round = 0; pending.length > 0; round += 1) {
      assert.ok(round < 10, `still deferred after 10 rounds: ${pending.length}`);
      const again = await Promise.all(
        pending.map(async (p) => {
          await new Promise((resolve) => setTimeout(resolve, p.retryAfter * 1000 + Math.random() * 200));
          return { i: p.i, result: await watch(p.i) };
        }),
      );
      pending = again.flatMap(({ i, result }) => (result.admitted ? [] : [{ i, retryAfter: result.retryAfter }]));
    }
    const metrics = await ts.server.metrics.registry.getSingleMetricAsString('herald_streams_refused_total');
    assert.match(metrics, /reason="admission"\} \d+/u);
  });
});

void describe('watch admission across the start', () => {
  void it('what the early socket admitted and booked while the node started still counts once it is ready', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 0, 250));
    const listener = await listenEarly({
      host: '127.0.0.1',
      port: 0,
      tls: null,
      limits: connectionLimitsOf(defaultServerConfig),
      backlog: defaultServerConfig.listenBacklog,
      retryAfterSeconds: 1,
      watchAdmission: { perSecond: 2, clock },
    });
    const { port } = listener.server.address() as { port: number };
    const base = `http://127.0.0.1:${port}`;
    let ts: TestServer | undefined;
    const body = (i: number): string => JSON.stringify({ instanceId: `start-${i}`, views: [{ namespace: 'start' }] });
    const watch = async (i: number): Promise<{ status: number; code?: string; retryAfter: string | null }> => {
      const response = await fetch(`${base}/v1/watch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
        body: body(i),
        signal: AbortSignal.timeout(10_000),
      });
      const retryAfter = response.headers.get('retry-after');
      if (response.status === 200) {
        await response.body?.cancel();
        return { status: 200, retryAfter };
      }
      return { status: response.status, code: ((await response.json()) as { code: string }).code, retryAfter };
    };
    try {
      // While starting: this second's two admissions are spent, a third is booked into the next second.
      assert.deepEqual(await watch(1), { status: 503, code: 'starting', retryAfter: '1' });
      assert.deepEqual(await watch(2), { status: 503, code: 'starting', retryAfter: '1' });
      assert.deepEqual(await watch(3), { status: 503, code: 'starting', retryAfter: '1' });

      ts = await startTestServer({ clock, listener, config: { watchAdmissionsPerSecond: 2 } });
      await createNamespace(ts, 'start');
      // Ready, in the same second: a fresh pacing would admit two at once; this one knows the second is spent.
      assert.deepEqual(await watch(4), { status: 503, code: 'watch_deferred', retryAfter: '1' });
      // The next second holds the one booked while starting and this one; the one after is booked into the second after.
      assert.deepEqual(await watch(5), { status: 503, code: 'watch_deferred', retryAfter: '2' });
      clock.advance(1000);
      assert.equal((await watch(3)).status, 200);
    } finally {
      if (ts) await ts.close();
      else await listener.close();
    }
  });
});
