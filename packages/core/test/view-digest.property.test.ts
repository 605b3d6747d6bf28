// The incremental view digest (view-digest.ts) against the whole recomputation, on generated views
// and chains of deltas: a client that rehashes only what a delta sets must reach the digest the
// server computed over all the values, and name exactly the keys that changed.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  applyDelta,
  canonicalJson,
  diffViews,
  ViewDigest,
  viewDigest,
  type ViewDelta,
  type ViewValues,
} from '../src/index.js';
import { CaseCounter, propertyCheck, propertyRuns } from './property-runs.js';

const numRuns = propertyRuns();
const counter = new CaseCounter('core-view-digest-properties');
after(() => counter.print());

const check = propertyCheck(counter, numRuns);

// A small key alphabet so that deltas often hit keys the view holds, plus all of Unicode.
const key = fc.oneof(
  fc.constantFrom('a', 'b', 'c', 'db/x', 'é', '\ud800', 'a/b', ''),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
const json = fc.jsonValue({ maxDepth: 3 });
const values: fc.Arbitrary<ViewValues> = fc.dictionary(key, json, { maxKeys: 12 });
const delta: fc.Arbitrary<ViewDelta> = fc.record({
  set: fc.dictionary(key, json, { maxKeys: 4 }),
  remove: fc.array(key, { maxLength: 4 }),
});

/** The digest from its definition in docs/protocol.md, written out independently of view-digest.ts. */
function definition(view: ViewValues): string {
  const root = createHash('sha256');
  for (const k of Object.keys(view).sort())
    root.update(
      createHash('sha256')
        .update(canonicalJson([k, view[k]]))
        .digest(),
    );
  return root.digest('hex');
}

function changed(from: ViewValues, to: ViewValues): string[] {
  const d = diffViews(from, to);
  return [...Object.keys(d.set), ...d.remove].sort();
}

void describe('the incremental view digest', () => {
  void test('is the digest of its definition', () => {
    check(values, (view) => assert.equal(viewDigest(view), definition(view)));
  });

  void test('after a delta equals the whole recomputation over the result', () => {
    check(fc.tuple(values, delta), ([base, d]) => {
      const held = ViewDigest.of(base);
      const next = held.apply(d);
      const result = applyDelta(base, d);
      assert.equal(next.digest, viewDigest(result));
      assert.deepEqual(next.keys, Object.keys(result));
      assert.equal(held.digest, viewDigest(base), 'the digest applied from is unchanged');
    });
  });

  void test('after a chain of deltas equals the whole recomputation', () => {
    check(fc.tuple(values, fc.array(delta, { maxLength: 8 })), ([base, deltas]) => {
      let view = base;
      let digest = ViewDigest.of(base);
      for (const d of deltas) {
        view = applyDelta(view, d);
        digest = digest.apply(d);
        assert.equal(digest.digest, viewDigest(view));
      }
    });
  });

  void test('names exactly the keys whose canonical value changed, with or without the delta', () => {
    check(fc.tuple(values, delta), ([base, d]) => {
      const held = ViewDigest.of(base);
      const next = held.apply(d);
      const expected = changed(base, applyDelta(base, d));
      assert.deepEqual(held.changedKeys(next, Object.keys(d.set)), expected);
      assert.deepEqual(held.changedKeys(next), expected);
      assert.deepEqual(held.changedKeys(ViewDigest.of(applyDelta(base, d))), expected);
    });
  });

  void test('any change to a value changes the digest', () => {
    check(fc.tuple(values, key, json), ([base, k, value]) => {
      fc.pre(!Object.hasOwn(base, k) || canonicalJson(base[k]) !== canonicalJson(value));
      const next = ViewDigest.of(base).apply({ set: { [k]: value }, remove: [] });
      assert.notEqual(next.digest, viewDigest(base));
    });
  });

  void test('a key moved to another value, or a value to another key, is another digest', () => {
    assert.notEqual(viewDigest({ a: 1, b: 2 }), viewDigest({ a: 2, b: 1 }));
    assert.notEqual(viewDigest({ ab: 'c' }), viewDigest({ a: 'bc' }));
    assert.notEqual(viewDigest({}), viewDigest({ '': null }));
  });

  void test('a value with no canonical encoding throws, and the digest applied from is unchanged', () => {
    const held = ViewDigest.of({ a: 1 });
    assert.throws(() => held.apply({ set: { b: Infinity }, remove: ['a'] }), /Infinity/);
    assert.equal(held.digest, viewDigest({ a: 1 }));
    assert.deepEqual(held.keys, ['a']);
  });
});
