// What the client holds after verifying, beyond the verdict: deeply frozen values that a delta's
// result shares with what was held, the keys a change names, and a held view left as it was by a
// delta that fails its digest. Deltas come through JSON, as on the wire.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrustStore, type ViewValues } from '@herald/core';
import { changedKeys, verifyDelta, verifySnapshot, type VerifiedView, type ViewRef } from '@herald/sdk/internal';
import { deltaBetween, newKey, publicInfo, signView, type SignedView } from './fixtures.js';

const key = newKey('k-1');
const trust = new TrustStore([publicInfo(key)]);
const view: ViewRef = { namespace: 'payments', labels: [''] };
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function accepted(verdict: ReturnType<typeof verifyDelta>): VerifiedView {
  assert.equal(verdict.outcome, 'accept', JSON.stringify(verdict));
  return (verdict as { view: VerifiedView }).view;
}

function deeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(deeplyFrozen);
}

const v1 = signView(key, { seq: 1, values: { a: { n: 1 }, b: { list: [1, 2] }, c: 'text', gone: true } });
const v2 = signView(key, { seq: 2, values: { a: { n: 1 }, b: { list: [1, 3] }, c: 'text', added: { x: null } } });

void describe('verified values', () => {
  void it('are deeply frozen, and a delta shares the held objects of the keys it does not set', () => {
    const held = accepted(verifySnapshot(wire(v1), { view, held: undefined, trust }));
    assert.ok(deeplyFrozen(held.values));
    const next = accepted(verifyDelta(wire(deltaBetween(v1, v2)), { view, held, trust }));
    assert.ok(deeplyFrozen(next.values));
    assert.deepEqual(Object.keys(next.values), ['a', 'added', 'b', 'c']);
    assert.equal(next.values.a, held.values.a, 'an untouched value is the same object');
    assert.notEqual(next.values.b, held.values.b);
    assert.deepEqual({ ...next.values }, v2.values);
  });

  void it('name exactly the keys whose value changed, came or went', () => {
    const held = accepted(verifySnapshot(wire(v1), { view, held: undefined, trust }));
    // A server may set a key to the value it had: that key did not change.
    const redundant = { ...deltaBetween(v1, v2), set: { ...deltaBetween(v1, v2).set, c: 'text' } };
    const next = accepted(verifyDelta(wire(redundant), { view, held, trust }));
    assert.deepEqual(changedKeys(held.values, next.values), ['added', 'b', 'gone']);
    assert.deepEqual(changedKeys(undefined, next.values), ['a', 'added', 'b', 'c']);
    const snapshot = accepted(verifySnapshot(wire(v2), { view, held, trust }));
    assert.deepEqual(changedKeys(held.values, snapshot.values), ['added', 'b', 'gone']);
  });

  void it('held are left as they were by a delta that fails its digest', () => {
    const held = accepted(verifySnapshot(wire(v1), { view, held: undefined, trust }));
    const delta = deltaBetween(v1, v2);
    const tampered = verifyDelta(wire({ ...delta, set: { ...delta.set, b: { list: [9] } } }), { view, held, trust });
    assert.equal(tampered.outcome === 'reject' && tampered.code, 'digest_mismatch');
    assert.deepEqual({ ...held.values }, v1.values);
    accepted(verifyDelta(wire(delta), { view, held, trust }));
  });

  void it('after a chain of deltas hash as the server computed, from held values of any origin', () => {
    let server: SignedView = signView(key, { seq: 1, values: { k0: 0 } });
    // Held values not made by verify (a plain object) are hashed whole once, then incrementally.
    let held: VerifiedView = { manifest: server.manifest, signature: server.signature, values: server.values };
    for (let seq = 2; seq <= 60; seq += 1) {
      const values: ViewValues = { ...server.values, [`k${seq % 7}`]: { seq } };
      if (seq % 5 === 0) delete values[`k${(seq + 3) % 7}`];
      const next = signView(key, { seq, values });
      held = accepted(verifyDelta(wire(deltaBetween(server, next)), { view, held, trust }));
      assert.deepEqual({ ...held.values }, values);
      server = next;
    }
  });
});
