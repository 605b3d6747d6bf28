// The rollout controller's pacing on a manual clock: a pass that costs time (reading 100,000
// instance records does) is followed by a pause three times as long, so passes take at most a
// quarter of the node's time; the pause is the controller's choice, so it does not break the
// rollout's unbroken observation (its bake keeps counting). Cheap passes run every tick.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '@herald/core';
import { LocalLeadership, type Store } from '@herald/store';
import { RolloutController } from '../src/rollouts/controller.js';
import { ObservationWindows } from '../src/rollouts/observation-windows.js';
import type { RolloutService } from '../src/rollouts/rollout-service.js';

async function controllerWith(costMs: () => number) {
  const clock = new ManualClock();
  const leadership = new LocalLeadership({ clock });
  await leadership.start();
  const windows = new ObservationWindows();
  const steps: Array<{ at: number; since: number }> = [];
  const passes: number[] = [];
  const record = { id: 'r-1', namespace: 'app' };
  // What the controller asks of the store and the service: one active rollout, and a step that
  // takes `costMs` of the clock's time (as reading the instance records would).
  const store = { listActiveRollouts: () => Promise.resolve([record]) } as unknown as Store;
  const service = {
    step: (_record: unknown, window: { since: number }) => {
      steps.push({ at: clock.now(), since: window.since });
      clock.set(clock.now() + costMs());
      return Promise.resolve();
    },
  } as unknown as RolloutService;
  const controller = new RolloutController({
    store,
    service,
    leadership,
    clock,
    windows,
    onError: (error) => assert.fail(String(error)),
    onPass: (ms) => passes.push(ms),
  });
  return { clock, controller, steps, passes };
}

async function run(clock: ManualClock, ms: number, tickMs: number): Promise<void> {
  for (let t = 0; t < ms; t += tickMs) {
    clock.advance(tickMs);
    // Let the pass started by this tick finish (its awaits are microtasks).
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
}

void test('a costly pass is followed by a pause three times as long; the observation stays unbroken', async () => {
  const { clock, controller, steps, passes } = await controllerWith(() => 2_000);
  const begin = clock.now();
  controller.start(500, 5_000);
  await run(clock, 60_000, 500);
  await controller.close();
  const elapsed = clock.now() - begin;
  assert.ok(steps.length >= 5, `passes ran: ${steps.length}`);
  for (const [i, step] of steps.entries()) {
    if (i > 0) assert.ok(step.at - (steps[i - 1]?.at ?? 0) >= 8_000, `passes ${i - 1} and ${i} are 8 s apart or more`);
  }
  assert.ok(
    steps.length * 2_000 <= elapsed / 4 + 2_000,
    `at most a quarter of the time in passes: ${steps.length} of 2 s in ${elapsed} ms`,
  );
  assert.deepEqual(new Set(steps.map((s) => s.since)).size, 1, 'one unbroken observation window');
  assert.ok(passes.every((ms) => ms === 2_000));
});

void test('the pause after a pass that waited long is capped at 10 s', async () => {
  const { clock, controller, steps } = await controllerWith(() => 40_000);
  controller.start(500, 5_000);
  await run(clock, 60_000, 500);
  await controller.close();
  assert.ok(steps.length >= 3, `passes ran: ${steps.length}`);
  for (const [i, step] of steps.entries())
    if (i > 0) {
      const gap = step.at - (steps[i - 1]?.at ?? 0);
      assert.ok(gap >= 50_000 && gap <= 51_000, `a 40 s pass, then at most 10 s of pause: ${gap} ms`);
    }
});

void test('cheap passes run at every tick', async () => {
  const { clock, controller, steps } = await controllerWith(() => 0);
  controller.start(500, 5_000);
  await run(clock, 10_000, 500);
  await controller.close();
  assert.ok(steps.length >= 19, `a pass per tick: ${steps.length}`);
});
