// Schedules on a real server driven by a ManualClock: a scheduled release is carried out once its
// time comes (and not before); one due inside a change window is held until the window ends; the
// last approval of a change request with applyAt schedules its application, which commits it
// then. Time moves only when the test moves it, a tick at a time.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call, createNamespace } from './helpers.js';

const tickMs = 500;
let ts: TestServer;
let clock: ManualClock;

before(async () => {
  clock = new ManualClock();
  ts = await startTestServer({ clock, config: { rolloutTickMs: tickMs } });
});

after(async () => {
  await ts.close();
});

interface Schedule {
  id: string;
  state: string;
  at: string;
  detail?: string;
  outcome?: { releaseSeq?: number; state?: string };
}

async function schedule(ns: string): Promise<Schedule | undefined> {
  const response = await call(ts, 'GET', `/v1/schedules?namespace=${ns}`);
  assert.equal(response.status, 200, response.text);
  return (response.json as { items: Schedule[] }).items[0];
}

async function releases(ns: string): Promise<Array<{ seq: number; note: string }>> {
  return (
    (await call(ts, 'GET', `/v1/namespaces/${ns}/releases`)).json as { items: Array<{ seq: number; note: string }> }
  ).items;
}

/** Moves the clock `ms` a tick at a time, giving each pass real time to run. */
async function advance(ms: number): Promise<void> {
  for (let moved = 0; moved < ms; moved += tickMs) {
    clock.advance(tickMs);
    await sleep(15);
  }
}

async function until(ticks: number, done: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < ticks; i += 1) {
    if (await done()) return true;
    await advance(tickMs);
  }
  return done();
}

const iso = (ms: number) => new Date(ms).toISOString();

async function manualNamespace(ns: string): Promise<void> {
  await createNamespace(ts, ns);
  await call(ts, 'PUT', `/v1/namespaces/${ns}/policy`, { body: { strategy: 'manual' } });
  await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { body: { value: 1 } });
}

void describe('schedules', () => {
  void it('a scheduled release happens when its time comes, not before, once', async () => {
    const ns = 'sched-at';
    await manualNamespace(ns);
    const made = await call(ts, 'POST', `/v1/namespaces/${ns}/schedules`, {
      body: { at: iso(clock.now() + 5_000), note: 'on time' },
    });
    assert.equal(made.status, 201, made.text);
    await advance(4_000);
    assert.equal((await schedule(ns))?.state, 'pending');
    assert.deepEqual(await releases(ns), []);
    assert.ok(await until(20, async () => (await schedule(ns))?.state === 'done'), JSON.stringify(await schedule(ns)));
    await advance(3_000);
    const made1 = await releases(ns);
    assert.deepEqual(
      made1.map((r) => r.note),
      ['on time'],
    );
    assert.equal((await schedule(ns))?.outcome?.releaseSeq, made1[0]?.seq);
  });

  void it('a release due inside a change window waits for the window to end', async () => {
    const ns = 'sched-window';
    await manualNamespace(ns);
    const windowEnd = clock.now() + 8_000;
    await call(ts, 'PUT', `/v1/namespaces/${ns}/windows`, {
      body: { windows: [{ name: 'quiet', from: iso(clock.now() + 1_000), to: iso(windowEnd) }] },
    });
    await call(ts, 'POST', `/v1/namespaces/${ns}/schedules`, { body: { at: iso(clock.now() + 2_000) } });
    assert.ok(await until(20, async () => (await schedule(ns))?.detail !== undefined));
    const held = await schedule(ns);
    assert.equal(held?.state, 'pending');
    assert.match(held?.detail ?? '', /"quiet"/u);
    assert.equal(held?.at, iso(windowEnd), 'due again when the window ends');
    assert.deepEqual(await releases(ns), []);
    assert.ok(await until(30, async () => (await schedule(ns))?.state === 'done'));
    assert.equal((await releases(ns)).length, 1);
  });

  void it('the last approval with applyAt schedules the application of a change request', async () => {
    const ns = 'sched-cr';
    await manualNamespace(ns);
    await call(ts, 'PUT', `/v1/namespaces/${ns}/approval`, { body: { required: 1 } });
    const author = await call(ts, 'POST', '/v1/tokens', {
      body: { name: 'sched-author', scopes: [{ namespaces: ns, role: 'writer' }] },
    });
    const opened = await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, {
      token: (author.json as { token: string }).token,
      body: { value: 2 },
    });
    assert.equal(opened.status, 202, opened.text);
    const id = (opened.json as { changeRequest: { id: string } }).changeRequest.id;
    const approved = await call(ts, 'POST', `/v1/change-requests/${id}/approve`, {
      body: { applyAt: iso(clock.now() + 3_000) },
    });
    assert.equal(approved.status, 200, approved.text);
    assert.equal((approved.json as { schedule?: Schedule }).schedule?.state, 'pending');
    const value = async () =>
      ((await call(ts, 'GET', `/v1/namespaces/${ns}/entries/a`)).json as { value: unknown }).value;
    assert.equal(await value(), 1, 'approved, not applied yet');
    assert.ok(await until(20, async () => (await schedule(ns))?.state === 'done'));
    assert.equal(await value(), 2);
    const cr = (await call(ts, 'GET', `/v1/change-requests/${id}`)).json as { state: string };
    assert.equal(cr.state, 'applied');
  });
});
