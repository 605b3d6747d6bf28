import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrustStore } from '@herald/core';
import { verifyDelta, verifySnapshot, type Verdict, type VerifiedView, type ViewRef } from '@herald/sdk/internal';
import { deltaBetween, flipSignature, newKey, publicInfo, signView } from './fixtures.js';

const key = newKey('k-1');
const trust = new TrustStore([publicInfo(key)]);
const view: ViewRef = { namespace: 'payments', labels: [''] };

const v5 = signView(key, { seq: 5, values: { 'db/pool/max': 10, 'feature/x': true } });
const v6 = signView(key, { seq: 6, values: { 'db/pool/max': 20, 'feature/y': 'on' } });
const held5: VerifiedView = { manifest: v5.manifest, signature: v5.signature, values: v5.values };

function rejection(verdict: Verdict): string {
  assert.equal(verdict.outcome, 'reject', JSON.stringify(verdict));
  return verdict.outcome === 'reject' ? verdict.code : '';
}

void describe('verifySnapshot', () => {
  void it('accepts a snapshot signed by a trusted key, for the view, with the right digest', () => {
    const verdict = verifySnapshot(v5, { view, held: undefined, trust });
    assert.equal(verdict.outcome, 'accept');
    if (verdict.outcome === 'accept') {
      assert.deepEqual({ ...verdict.view.values }, v5.values);
      assert.equal(verdict.view.manifest.seq, 5);
    }
  });

  void it('1. refuses a key it does not trust, and a signature that does not verify', () => {
    const stranger = newKey('k-evil');
    assert.equal(
      rejection(verifySnapshot(signView(stranger, { seq: 5, values: {} }), { view, held: undefined, trust })),
      'untrusted_key',
    );
    // Same key id, different key: the signature fails.
    const impostor = newKey('k-1');
    assert.equal(
      rejection(verifySnapshot(signView(impostor, { seq: 5, values: {} }), { view, held: undefined, trust })),
      'bad_signature',
    );
    assert.equal(
      rejection(verifySnapshot({ ...v5, signature: flipSignature(v5.signature) }, { view, held: undefined, trust })),
      'bad_signature',
    );
    // Any change to the manifest breaks the signature, including a member it did not have.
    for (const change of [{ seq: 50 }, { revision: 1 }, { issuedAt: 0 }, { secrets: true }, { extra: 1 }]) {
      assert.equal(
        rejection(verifySnapshot({ ...v5, manifest: { ...v5.manifest, ...change } }, { view, held: undefined, trust })),
        'bad_signature',
        JSON.stringify(change),
      );
    }
  });

  void it('2. refuses a manifest for another namespace or label stack', () => {
    const other = signView(key, { namespace: 'search', seq: 5, values: {} });
    assert.equal(rejection(verifySnapshot(other, { view, held: undefined, trust })), 'wrong_view');
    const prod = signView(key, { labels: ['', 'prod'], seq: 5, values: {} });
    assert.equal(rejection(verifySnapshot(prod, { view, held: undefined, trust })), 'wrong_view');
    assert.equal(
      verifySnapshot(prod, { view: { namespace: 'payments', labels: ['', 'prod'] }, held: undefined, trust }).outcome,
      'accept',
    );
    // [] and [""] are the same stack.
    const empty = signView(key, { labels: [], seq: 5, values: {} });
    assert.equal(verifySnapshot(empty, { view, held: undefined, trust }).outcome, 'accept');
  });

  void it('3. refuses a lower seq (replay), and the same seq with another digest; the same seq and digest is nothing to do', () => {
    const held6: VerifiedView = { manifest: v6.manifest, signature: v6.signature, values: v6.values };
    const verdict = verifySnapshot(v5, { view, held: held6, trust });
    assert.equal(rejection(verdict), 'seq_regressed');
    assert.equal(
      verdict.outcome === 'reject' ? verdict.manifest?.seq : undefined,
      5,
      'the refused seq is named for the report',
    );
    const fork = signView(key, { seq: 6, values: { other: 1 } });
    assert.equal(rejection(verifySnapshot(fork, { view, held: held6, trust })), 'seq_conflict');
    assert.deepEqual(verifySnapshot(v6, { view, held: held6, trust }), { outcome: 'unchanged' });
    assert.equal(verifySnapshot(v6, { view, held: held5, trust }).outcome, 'accept');
  });

  void it('5. refuses values whose digest is not the signed one', () => {
    assert.equal(
      rejection(
        verifySnapshot({ ...v5, values: { ...v5.values, 'db/pool/max': 11 } }, { view, held: undefined, trust }),
      ),
      'digest_mismatch',
    );
    assert.equal(
      rejection(verifySnapshot({ ...v5, values: { 'db/pool/max': 10 } }, { view, held: undefined, trust })),
      'digest_mismatch',
    );
  });

  void it('checks in the documented order: signature before view, view before seq, seq before digest', () => {
    const held6: VerifiedView = { manifest: v6.manifest, signature: v6.signature, values: v6.values };
    const wrongEverything = {
      manifest: { ...v5.manifest, namespace: 'search' },
      signature: v5.signature,
      values: { tampered: true },
    };
    assert.equal(rejection(verifySnapshot(wrongEverything, { view, held: held6, trust })), 'bad_signature');
    const otherView = signView(key, { namespace: 'search', seq: 1, values: {} });
    assert.equal(
      rejection(verifySnapshot({ ...otherView, values: { tampered: true } }, { view, held: held6, trust })),
      'wrong_view',
    );
    assert.equal(
      rejection(verifySnapshot({ ...v5, values: { tampered: true } }, { view, held: held6, trust })),
      'seq_regressed',
    );
  });

  void it('refuses malformed events without throwing', () => {
    for (const bad of [
      null,
      'x',
      [],
      {},
      { manifest: v5.manifest },
      { manifest: { ...v5.manifest, seq: -1 }, signature: v5.signature, values: {} },
      { manifest: { ...v5.manifest, digest: 'ABC' }, signature: v5.signature, values: {} },
      { ...v5, values: [] },
      { ...v5, values: null },
    ]) {
      assert.equal(rejection(verifySnapshot(bad, { view, held: undefined, trust })), 'malformed', JSON.stringify(bad));
    }
  });
});

void describe('verifyDelta', () => {
  void it('applies a delta from exactly what is held and checks the digest of the result', () => {
    const verdict = verifyDelta(deltaBetween(v5, v6), { view, held: held5, trust });
    assert.equal(verdict.outcome, 'accept');
    if (verdict.outcome === 'accept') assert.deepEqual({ ...verdict.view.values }, v6.values);
  });

  void it('4. refuses a delta from another seq or digest, or when nothing is held', () => {
    const delta = deltaBetween(v5, v6);
    assert.equal(rejection(verifyDelta({ ...delta, fromSeq: 4 }, { view, held: held5, trust })), 'delta_base_mismatch');
    assert.equal(
      rejection(verifyDelta({ ...delta, fromDigest: '0'.repeat(64) }, { view, held: held5, trust })),
      'delta_base_mismatch',
    );
    assert.equal(rejection(verifyDelta(delta, { view, held: undefined, trust })), 'delta_base_mismatch');
  });

  void it('5. refuses a delta whose set or remove was altered', () => {
    const delta = deltaBetween(v5, v6);
    assert.equal(
      rejection(verifyDelta({ ...delta, set: { ...delta.set, 'db/pool/max': 21 } }, { view, held: held5, trust })),
      'digest_mismatch',
    );
    assert.equal(rejection(verifyDelta({ ...delta, remove: [] }, { view, held: held5, trust })), 'digest_mismatch');
    const a = signView(key, { seq: 8, values: { keep: 1, change: 1 } });
    const b = signView(key, { seq: 9, values: { keep: 1, change: 2 } });
    const fromA = deltaBetween(a, b);
    const heldA: VerifiedView = { manifest: a.manifest, signature: a.signature, values: a.values };
    assert.equal(verifyDelta(fromA, { view, held: heldA, trust }).outcome, 'accept');
    assert.equal(
      rejection(verifyDelta({ ...fromA, remove: ['keep'] }, { view, held: heldA, trust })),
      'digest_mismatch',
    );
  });

  void it('runs checks 1–3 on deltas too', () => {
    const delta = deltaBetween(v5, v6);
    assert.equal(
      rejection(verifyDelta({ ...delta, signature: flipSignature(delta.signature) }, { view, held: held5, trust })),
      'bad_signature',
    );
    assert.equal(
      rejection(verifyDelta(delta, { view: { namespace: 'search', labels: [''] }, held: held5, trust })),
      'wrong_view',
    );
    const held6: VerifiedView = { manifest: v6.manifest, signature: v6.signature, values: v6.values };
    const v4 = signView(key, { seq: 4, values: {} });
    assert.equal(rejection(verifyDelta(deltaBetween(v6, v4), { view, held: held6, trust })), 'seq_regressed');
    assert.equal(verifyDelta(delta, { view, held: held6, trust }).outcome, 'unchanged');
  });

  void it('refuses a delta without its base or its lists', () => {
    const delta = deltaBetween(v5, v6);
    assert.equal(rejection(verifyDelta({ ...delta, fromSeq: undefined }, { view, held: held5, trust })), 'malformed');
    assert.equal(rejection(verifyDelta({ ...delta, remove: [1] }, { view, held: held5, trust })), 'malformed');
    assert.equal(rejection(verifyDelta({ ...delta, set: null }, { view, held: held5, trust })), 'malformed');
  });

  void it('trusts a rotated key only through an endorsement by a trusted key', () => {
    const next = newKey('k-2');
    const v7 = signView(next, { seq: 7, values: { rotated: true } });
    const local = new TrustStore([publicInfo(key)]);
    assert.equal(rejection(verifySnapshot(v7, { view, held: held5, trust: local })), 'untrusted_key');
    assert.deepEqual(local.learn([publicInfo(next)]), [], 'no endorsement, no trust');
    assert.deepEqual(local.learn([publicInfo(next, newKey('k-1'))]), [], 'endorsed by an impostor of k-1');
    assert.deepEqual(local.learn([publicInfo(next, key)]), ['k-2']);
    assert.equal(verifySnapshot(v7, { view, held: held5, trust: local }).outcome, 'accept');
  });
});
