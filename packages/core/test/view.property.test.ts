// Properties of the encoding every digest and signature is computed over (RFC 8785), of the
// deltas the watch stream sends and of label resolution, tried on generated values.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyDelta,
  canonicalJson,
  diffStates,
  diffViews,
  resolveView,
  viewDigest,
  type EntryVersion,
  type ViewValues,
} from '../src/index.js';
import { CaseCounter, propertyCheck, propertyRuns } from './property-runs.js';

const numRuns = propertyRuns();
const counter = new CaseCounter('core-view-properties');
after(() => counter.print());

const check = propertyCheck(counter, numRuns);

// Keys and strings from all of Unicode, lone surrogates included: the canonical form must be stable for them too.
const anyString = fc.string({ unit: 'binary', maxLength: 12 });
const json = fc.jsonValue({ maxDepth: 4 });
const values: fc.Arbitrary<ViewValues> = fc.dictionary(anyString, json, { maxKeys: 12 });

/** The same value with every object's keys inserted in another order. */
function reordered(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item, i) => reordered(item, seed + i));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  const shuffled = keys
    .map((key, i) => ({ key, rank: ((i + 1) * 2_654_435_761 + seed) % 4_294_967_291 }))
    .sort((a, b) => a.rank - b.rank)
    .map(({ key }) => key);
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of shuffled) copy[key] = reordered((value as Record<string, unknown>)[key], seed + key.length);
  return copy;
}

void describe('canonical JSON (RFC 8785)', () => {
  void test('is idempotent: the canonical form of a parsed canonical form is itself', () => {
    check(json, (value) => {
      const once = canonicalJson(value);
      assert.equal(canonicalJson(JSON.parse(once)), once);
    });
  });

  void test('does not depend on the order keys were inserted in', () => {
    check(fc.tuple(json, fc.integer()), ([value, seed]) => {
      assert.equal(canonicalJson(reordered(value, seed)), canonicalJson(value));
    });
  });

  void test('round-trips: parsing it gives back the value', () => {
    check(json, (value) => {
      assert.deepEqual(JSON.parse(canonicalJson(value)), JSON.parse(JSON.stringify(value)));
    });
  });

  void test('sorts object keys by UTF-16 code units and writes no whitespace', () => {
    check(fc.dictionary(anyString, fc.integer(), { minKeys: 1, maxKeys: 10 }), (object) => {
      const text = canonicalJson(object);
      const keys = Object.keys(JSON.parse(text) as object);
      assert.deepEqual(keys, [...keys].sort());
      assert.equal(text, JSON.stringify(Object.fromEntries(keys.map((k) => [k, object[k]]))));
    });
  });

  void test('writes every finite number as ECMAScript does, and it parses back to the same number', () => {
    check(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
      const text = canonicalJson(n);
      assert.equal(text, Object.is(n, -0) ? '0' : String(n));
      assert.equal(JSON.parse(text), Object.is(n, -0) ? 0 : n);
    });
  });
});

void describe('view deltas and digests', () => {
  void test('applying the delta from one view to another gives the other, digest and all', () => {
    check(fc.tuple(values, values), ([from, to]) => {
      const next = applyDelta(from, diffViews(from, to));
      assert.equal(canonicalJson(next), canonicalJson(to));
      assert.equal(viewDigest(next), viewDigest(to));
    });
  });

  void test('a view edited by a few keys: the delta names exactly those keys', () => {
    check(fc.tuple(values, fc.dictionary(anyString, json, { maxKeys: 4 })), ([from, edits]) => {
      const to = { ...from, ...edits };
      const delta = diffViews(from, to);
      assert.deepEqual(delta.remove, []);
      for (const key of Object.keys(delta.set)) {
        assert.ok(Object.hasOwn(edits, key), `${key} was not edited`);
        if (Object.hasOwn(from, key)) assert.notEqual(canonicalJson(from[key]), canonicalJson(edits[key]));
      }
    });
  });

  void test('the delta of a view to itself is empty and the digest is the same', () => {
    check(values, (view) => {
      const delta = diffViews(view, view);
      assert.deepEqual(Object.keys(delta.set), []);
      assert.deepEqual(delta.remove, []);
      assert.equal(viewDigest(applyDelta(view, delta)), viewDigest(view));
    });
  });

  void test('the digest depends on the content, not on key order', () => {
    check(fc.tuple(values, fc.integer()), ([view, seed]) => {
      assert.equal(viewDigest(reordered(view, seed) as ViewValues), viewDigest(view));
    });
  });

  void test('two views with different canonical forms have different digests', () => {
    check(fc.tuple(values, values), ([a, b]) => {
      fc.pre(canonicalJson(a) !== canonicalJson(b));
      assert.notEqual(viewDigest(a), viewDigest(b));
    });
  });
});

void describe('label resolution', () => {
  const labels = fc.uniqueArray(fc.constantFrom('', 'prod', 'eu', 'canary', 'web', 'x'), {
    minLength: 1,
    maxLength: 5,
  });
  const entries = fc.uniqueArray(
    fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      label: fc.constantFrom('', 'prod', 'eu', 'canary', 'web', 'x', 'other'),
      value: fc.integer(),
    }),
    { selector: (e) => `${e.key}\u0000${e.label}`, maxLength: 30 },
  );

  void test('each key takes its value from the last label of the stack that has it', () => {
    check(fc.tuple(labels, entries), ([stack, list]) => {
      const view = resolveView(stack, list);
      const expected: Record<string, unknown> = {};
      for (const label of stack) for (const e of list) if (e.label === label) expected[e.key] = e.value;
      assert.deepEqual({ ...view }, expected);
      assert.deepEqual(Object.keys(view), Object.keys(view).sort());
    });
  });

  void test('an entry under the last label overrides every earlier label, whatever the input order', () => {
    check(fc.tuple(labels, entries, fc.integer()), ([stack, list, value]) => {
      const last = stack[stack.length - 1] as string;
      const rest = list.filter((e) => !(e.key === 'a' && e.label === last));
      const withTop = [...rest, { key: 'a', label: last, value }];
      assert.equal(resolveView(stack, withTop).a, value);
      assert.equal(resolveView(stack, withTop.reverse()).a, value);
    });
  });
});

void describe('state diffs', () => {
  const version = fc.record({
    key: fc.constantFrom('a', 'b', 'c', 'd'),
    label: fc.constantFrom('', 'prod'),
    text: fc.constantFrom('1', '2', '"x"'),
    deleted: fc.boolean(),
    locked: fc.boolean(),
    revision: fc.integer({ min: 1, max: 50 }),
  });
  const state = fc.uniqueArray(version, { selector: (v) => `${v.key}\u0000${v.label}`, maxLength: 8 }).map((list) =>
    list.map((v): EntryVersion => ({
      ...v,
      namespace: 'ns',
      contentType: 'application/json',
      tags: {},
      secret: false,
      author: 'test',
      createdAt: 0,
    })),
  );

  void test('a state has no diff to itself, even with other revisions', () => {
    check(state, (s) => {
      assert.deepEqual(
        diffStates(
          s,
          s.map((v) => ({ ...v, revision: v.revision + 1 })),
        ),
        [],
      );
    });
  });

  void test('the diff backwards swaps added and removed and keeps changed', () => {
    check(fc.tuple(state, state), ([a, b]) => {
      const forward = diffStates(a, b);
      const backward = diffStates(b, a);
      const flip = { added: 'removed', removed: 'added', changed: 'changed' } as const;
      assert.deepEqual(
        backward.map((d) => [d.key, d.label, d.kind]),
        forward.map((d) => [d.key, d.label, flip[d.kind]]),
      );
    });
  });
});
