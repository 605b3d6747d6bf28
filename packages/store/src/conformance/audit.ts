/** Audit (AuditStore): one chain that records every mutation and nothing else. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { AuditChainVerifier } from '@herald/core';
import {
  allAudit,
  audit,
  commit,
  createNs,
  noLimit,
  rejectsWith,
  request,
  set,
  token,
  type ConformanceTest,
} from './helpers.js';

export function auditConformance(test: ConformanceTest): void {
  void describe('audit', () => {
    test('every mutating call appends exactly one record, and the chain verifies', async (store) => {
      const expected: Array<{ action: string; target: string; details: Record<string, unknown> }> = [];
      const check = async (): Promise<void> => {
        const records = await allAudit(store);
        assert.deepEqual(
          records.map((r) => ({ action: r.action, target: r.target, details: r.details })),
          expected,
        );
        assert.ok(records.every((r) => r.actor === 'tester'));
      };
      await store.createNamespace(
        { name: 'app', description: '', schema: null },
        audit('namespace.create', 'namespace:app', { why: 'test' }),
      );
      expected.push({ action: 'namespace.create', target: 'namespace:app', details: { why: 'test' } });
      await check();
      await store.updateNamespace('app', { description: 'd' }, audit('namespace.update', 'namespace:app'));
      expected.push({ action: 'namespace.update', target: 'namespace:app', details: {} });
      await check();
      await store.commit(
        request('app', [set('a', '1'), set('b', '2')]),
        audit('entries.commit', 'namespace:app', { keys: 2 }),
        noLimit,
      );
      expected.push({ action: 'entries.commit', target: 'namespace:app', details: { keys: 2, revision: 1 } });
      await check();
      await store.commit(request('app', [set('a', '3')]), audit('entries.commit', 'namespace:app'), noLimit);
      expected.push({ action: 'entries.commit', target: 'namespace:app', details: { revision: 2 } });
      await store.compact(2, audit('store.compact', 'store'));
      expected.push({ action: 'store.compact', target: 'store', details: { revision: 2, removedVersions: 1 } });
      await check();
      await store.createToken(token('t', 1), audit('token.create', 'token:t'));
      expected.push({ action: 'token.create', target: 'token:t', details: {} });
      await store.revokeToken('t', 2, audit('token.revoke', 'token:t'));
      expected.push({ action: 'token.revoke', target: 'token:t', details: {} });
      await check();
      const appended = await store.appendAudit(
        audit('login', 'user:x', { ip: '127.0.0.1', nested: { ok: true, n: 1.5 } }),
      );
      expected.push({
        action: 'login',
        target: 'user:x',
        details: { ip: '127.0.0.1', nested: { ok: true, n: 1.5 } },
      });
      await store.deleteNamespace('app', { force: true }, audit('namespace.delete', 'namespace:app'));
      expected.push({ action: 'namespace.delete', target: 'namespace:app', details: {} });
      await check();
      // Failures record nothing.
      await rejectsWith(
        store.updateNamespace('app', { description: 'x' }, audit('namespace.update')),
        'namespace_not_found',
      );
      await rejectsWith(
        store.deleteNamespace('app', { force: true }, audit('namespace.delete')),
        'namespace_not_found',
      );
      await rejectsWith(commit(store, 'app', [set('a', '1')]), 'namespace_not_found');
      await check();

      const records = await allAudit(store);
      assert.deepEqual(
        records.map((r) => r.seq),
        expected.map((_, i) => i + 1),
      );
      assert.deepEqual(records[7], appended, 'appendAudit returns the record as stored');
      const verifier = new AuditChainVerifier();
      for (const r of records) verifier.add(r);
      const verdict = verifier.result();
      assert.equal(verdict.ok, true, JSON.stringify(verdict.firstBad));
      assert.equal(verdict.count, expected.length);
      assert.equal(verdict.head, records.at(-1)?.hash);
      // The verifier is not a rubber stamp: a changed record fails it.
      const tampered = new AuditChainVerifier();
      for (const r of records) tampered.add(r.seq === 3 ? { ...r, target: 'namespace:other' } : r);
      assert.equal(tampered.result().ok, false);
    });

    test('listAudit pages with afterSeq and limit', async (store) => {
      for (let i = 0; i < 7; i += 1) await store.appendAudit(audit(`a${i}`));
      assert.deepEqual(
        (await store.listAudit({ limit: 3 })).map((r) => r.seq),
        [1, 2, 3],
      );
      assert.deepEqual(
        (await store.listAudit({ afterSeq: 3, limit: 3 })).map((r) => r.action),
        ['a3', 'a4', 'a5'],
      );
      assert.deepEqual(
        (await store.listAudit({ afterSeq: 6, limit: 3 })).map((r) => r.seq),
        [7],
      );
      assert.deepEqual(await store.listAudit({ afterSeq: 7, limit: 3 }), []);
    });

    test('concurrent audited calls keep one unbroken chain', async (store) => {
      await createNs(store, 'app');
      await Promise.all([
        ...Array.from({ length: 25 }, (_, i) => store.appendAudit(audit(`event${i}`))),
        ...Array.from({ length: 25 }, (_, i) => commit(store, 'app', [set(`k${i}`, 'v')])),
        ...Array.from({ length: 5 }, (_, i) => store.createToken(token(`t${i}`, i), audit('token.create'))),
      ]);
      const records = await allAudit(store);
      assert.equal(records.length, 56);
      const verifier = new AuditChainVerifier();
      for (const r of records) verifier.add(r);
      assert.equal(verifier.result().ok, true, JSON.stringify(verifier.result().firstBad));
      const revisions = records
        .filter((r) => r.action === 'entries.commit')
        .map((r) => r.details.revision as number)
        .sort((a, b) => a - b);
      assert.deepEqual(
        revisions,
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
    });
  });
}
