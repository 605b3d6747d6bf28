import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, systemClock } from '../src/index.js';

void test('systemClock reads the wall clock and is frozen', () => {
  const before = Date.now();
  const now = systemClock.now();
  const after = Date.now();
  assert.ok(now >= before && now <= after);
  assert.ok(Object.isFrozen(systemClock));
});

void test('ManualClock starts at 2026-01-01T00:00:00Z by default, or where told', () => {
  assert.equal(new ManualClock().now(), Date.UTC(2026, 0, 1));
  assert.equal(new ManualClock().now(), Date.parse('2026-01-01T00:00:00Z'));
  assert.equal(new ManualClock(5).now(), 5);
  assert.equal(new ManualClock(0).now(), 0);
});

void test('ManualClock moves only when told', () => {
  const clock = new ManualClock(1000);
  assert.equal(clock.now(), 1000);
  assert.equal(clock.now(), 1000);
  clock.advance(250);
  assert.equal(clock.now(), 1250);
  clock.advance(0);
  assert.equal(clock.now(), 1250);
  clock.set(10);
  assert.equal(clock.now(), 10);
  clock.advance(5);
  assert.equal(clock.now(), 15);
});

void test('separate ManualClocks are independent', () => {
  const a = new ManualClock(0);
  const b = new ManualClock(0);
  a.advance(100);
  assert.equal(b.now(), 0);
});
