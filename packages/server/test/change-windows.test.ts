// Change windows holding a rollout, on a real server driven by a ManualClock: a wave whose bake is
// over does not advance while a window of the namespace (or of the whole system) covers now; the
// rollout's status says which window and until when; an admin's override, with a reason, lets it
// go on. Time moves only when the test moves it, in steps no longer than the controller's tick, so
// every step is observed time.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace } from './helpers.js';

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

interface Status {
  state: string;
  wave: number;
  heldBy?: { window: string; scope: string; until: string; describe: string };
}

async function status(ns: string): Promise<Status> {
  const response = await call(ts, 'GET', `/v1/namespaces/${ns}/rollout`);
  assert.equal(response.status, 200, response.text);
  return (response.json as { rollout: Status }).rollout;
}

/** Moves the clock a tick at a time (each pass of the controller sees it) until `done`, at most `ticks` ticks. */
async function advanceUntil(ticks: number, done: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < ticks; i += 1) {
    if (await done()) return true;
    clock.advance(tickMs);
    // Real time for the controller's pass (store reads and writes) to run.
    await sleep(20);
  }
  return done();
}

async function stagedRollout(ns: string): Promise<void> {
  await createNamespace(ts, ns);
  const policy = await call(ts, 'PUT', `/v1/namespaces/${ns}/policy`, {
    body: {
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 50, bake: '3s' },
        { name: 'all', percent: 100, bake: '3s' },
      ],
      gates: { minReportRatio: 0, minInstances: 0, maxRejectRatio: 0, maxUnhealthyRatio: 0 },
      autoRollback: true,
    },
  });
  assert.equal(policy.status, 200, policy.text);
  await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { body: { value: 1 } });
  assert.equal((await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: {} })).status, 201);
  await call(ts, 'PUT', `/v1/namespaces/${ns}/entries/a`, { body: { value: 2 } });
  const started = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: {} });
  assert.equal(started.status, 201, started.text);
  assert.ok((started.json as { rolloutId?: string }).rolloutId, 'a rollout started');
}

void describe('a change window holds a rollout', () => {
  void it('the wave holds inside the window and says why; an override with a reason lets it advance', async () => {
    const ns = 'hold-ns';
    await stagedRollout(ns);
    // The window opens a second from now, before the canary's bake is over, and lasts an hour.
    const from = new Date(clock.now() + 1_000).toISOString();
    const to = new Date(clock.now() + 3_600_000).toISOString();
    const set = await call(ts, 'PUT', `/v1/namespaces/${ns}/windows`, {
      body: { windows: [{ name: 'maintenance', from, to }] },
    });
    assert.equal(set.status, 200, set.text);

    // Well past the bake (12 ticks of 500 ms against a 3 s bake): the wave holds.
    const held = await advanceUntil(12, async () => (await status(ns)).heldBy !== undefined);
    assert.ok(held, 'the status says the rollout is held');
    await advanceUntil(12, async () => false);
    const during = await status(ns);
    assert.equal(during.state, 'running');
    assert.equal(during.wave, 0, 'the canary did not advance inside the window');
    assert.equal(during.heldBy?.window, 'maintenance');
    assert.equal(during.heldBy?.until, to);
    assert.match(during.heldBy?.describe ?? '', /"maintenance"/u);

    // A release is refused in the window too (the rollout is running, but the window comes first).
    assertProblem(
      await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: { supersede: true } }),
      'change_window',
    );

    const override = await call(ts, 'POST', `/v1/namespaces/${ns}/rollout/override-window`, {
      body: { reason: 'the fix must land tonight' },
    });
    assert.equal(override.status, 200, override.text);
    const advanced = await advanceUntil(
      12,
      async () => (await status(ns)).wave >= 1 || (await status(ns)).state === 'succeeded',
    );
    assert.ok(advanced, 'with the override the rollout goes on');
    assert.equal((await status(ns)).heldBy, undefined);
    const audit = await call(ts, 'GET', '/v1/audit?limit=1000&order=newest&action=rollout.override_window');
    const records = (audit.json as { items: Array<{ details: { reason: string } }> }).items;
    assert.equal(records[0]?.details.reason, 'the fix must land tonight');
  });

  void it("the system's windows hold every namespace's rollouts", async () => {
    const ns = 'hold-system';
    await stagedRollout(ns);
    const from = new Date(clock.now() + 1_000).toISOString();
    const to = new Date(clock.now() + 3_600_000).toISOString();
    const set = await call(ts, 'PUT', '/v1/windows', { body: { windows: [{ name: 'year end', from, to }] } });
    assert.equal(set.status, 200, set.text);
    try {
      const held = await advanceUntil(12, async () => (await status(ns)).heldBy !== undefined);
      assert.ok(held);
      await advanceUntil(12, async () => false);
      const during = await status(ns);
      assert.equal(during.wave, 0);
      assert.equal(during.heldBy?.scope, '*');
    } finally {
      await call(ts, 'PUT', '/v1/windows', { body: { windows: [] } });
    }
    const advanced = await advanceUntil(
      12,
      async () => (await status(ns)).wave >= 1 || (await status(ns)).state === 'succeeded',
    );
    assert.ok(advanced, 'once the window is gone the rollout goes on');
  });
});
