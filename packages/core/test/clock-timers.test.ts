import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, systemClock } from '../src/index.js';

void test('ManualClock fires timeouts and intervals, in order, only as it moves', () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`late@${clock.now()}`), 300);
  clock.setTimeout(() => fired.push(`soon@${clock.now()}`), 100);
  const every = clock.setInterval(() => fired.push(`tick@${clock.now()}`), 150);
  const cancelled = clock.setTimeout(() => fired.push('never'), 50);
  clock.clearTimeout(cancelled);
  assert.deepEqual(fired, []);
  clock.advance(300);
  assert.deepEqual(fired, ['soon@100', 'tick@150', 'late@300', 'tick@300']);
  clock.clearInterval(every);
  clock.advance(1000);
  assert.equal(fired.length, 4);
  assert.equal(clock.now(), 1300);
});

void test('ManualClock.set fires what falls due going forwards, nothing going back', () => {
  const clock = new ManualClock(1000);
  let fired = 0;
  clock.setTimeout(() => (fired += 1), 500);
  clock.set(10);
  assert.equal(fired, 0);
  clock.set(1500);
  assert.equal(fired, 1);
});

void test('systemClock timers run and clear', async () => {
  // systemClock's timers never hold the process open (by design), so this test holds it open
  // itself while it waits; without this the event loop may end before the timer fires.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    const ran = await new Promise<boolean>((resolve) => {
      const never = systemClock.setTimeout(() => resolve(false), 5);
      systemClock.clearTimeout(never);
      systemClock.setTimeout(() => resolve(true), 10);
    });
    assert.ok(ran);
  } finally {
    clearInterval(keepAlive);
  }
});
