import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultLimits } from '../src/index.js';

void test('default limits are frozen', () => {
  assert.ok(Object.isFrozen(defaultLimits));
  assert.throws(() => {
    (defaultLimits as { maxKeyLength: number }).maxKeyLength = 1;
  }, TypeError);
  assert.equal(defaultLimits.maxKeyLength, 1024);
});

void test('every default limit is a positive safe integer', () => {
  for (const [name, value] of Object.entries(defaultLimits)) {
    assert.ok(Number.isSafeInteger(value) && value > 0, `${name} = ${String(value)}`);
  }
});

void test('a maximal value fits in a maximal body, with room for the envelope', () => {
  assert.ok(defaultLimits.maxBodyBytes > defaultLimits.maxValueBytes);
  // A JSON-escaped value can grow: a body must hold at least the raw value plus the request around it.
  assert.ok(defaultLimits.maxBodyBytes >= 2 * defaultLimits.maxValueBytes);
});

void test('the documented defaults', () => {
  assert.deepEqual(
    { ...defaultLimits },
    {
      maxBodyBytes: 4 * 1024 * 1024,
      maxValueBytes: 1024 * 1024,
      maxKeyLength: 1024,
      maxLabelLength: 256,
      maxLabels: 16,
      maxJsonDepth: 32,
      maxChangesPerCommit: 1000,
      maxEntriesPerNamespace: 20_000,
      maxTags: 32,
      maxTagLength: 256,
      maxSchemaBytes: 256 * 1024,
      maxPageSize: 1000,
    },
  );
});
