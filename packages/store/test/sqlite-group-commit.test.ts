// The SQLite group commit's batching: a batch waits for as many commits as the last one held,
// so these tests drive bursts of concurrent commits, then fewer, then one, and check that every
// commit is written once, in order, audited, and that nothing waits for commits that never come.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AuditChainVerifier } from '@herald/core';
import { audit, noLimit, request, set } from '../src/conformance/helpers.js';
import { SqliteStore } from '../src/sqlite/sqlite-store.js';

void describe('sqlite group commit', () => {
  let dir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-group-commit-'));
    store = SqliteStore.open({ path: join(dir, 'herald.db') });
    await store.createNamespace({ name: 'app', description: '', schema: null }, audit('namespace.create'));
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The audit chain verifies, and records exactly these commits' revisions, in order. */
  async function assertAuditedCommits(revisions: number[]): Promise<void> {
    const records = await store.listAudit({ limit: 100 });
    const verifier = new AuditChainVerifier();
    for (const r of records) verifier.add(r);
    assert.equal(verifier.result().ok, true);
    assert.deepEqual(
      records.filter((r) => r.action === 'entries.commit').map((r) => r.details.revision),
      revisions,
    );
  }

  const burst = (from: number, count: number) =>
    Promise.all(
      Array.from({ length: count }, (_, i) =>
        store.commit(request('app', [set(`k${(from + i) % 7}`, `v${from + i}`)]), audit('entries.commit'), noLimit),
      ),
    );

  void it('writes bursts of 16, then 4, then 1 commit: each once, in order, one unbroken audit chain', async () => {
    const results = [...(await burst(0, 16)), ...(await burst(16, 16)), ...(await burst(32, 4))];
    // A single writer after the bursts: written once the wait for the others runs out.
    results.push(...(await burst(36, 1)), ...(await burst(37, 1)));
    assert.deepEqual(
      results.map((r) => r.revision),
      Array.from({ length: 38 }, (_, i) => i + 1),
    );
    assert.equal(await store.currentRevision(), 38);
    await assertAuditedCommits(Array.from({ length: 38 }, (_, i) => i + 1));
  });

  void it("decides each commit of a batch on what the batch's earlier commits wrote, and on nothing a refused one did", async () => {
    await store.createNamespace({ name: 'other', description: '', schema: null }, audit('namespace.create'));
    const limits = { maxEntriesPerNamespace: 4 };
    const settle = (promise: Promise<unknown>) =>
      promise.then(
        () => 'ok',
        (error: unknown) => (error as { code?: string }).code,
      );
    // One batch: new keys until the namespace is full, a refused precondition in the middle, two
    // commits that both expect revision 0 of `other`, and releases of both namespaces throughout.
    const batch = [
      store.commit(request('app', [set('a', '1')], { release: true }), audit('entries.commit'), limits),
      store.commit(request('app', [set('b', '1')], { ifNamespaceRevision: 0 }), audit('entries.commit'), limits),
      store.commit(
        request('other', [set('x', '1')], { ifNamespaceRevision: 0, release: true }),
        audit('entries.commit'),
        limits,
      ),
      store.commit(request('other', [set('y', '1')], { ifNamespaceRevision: 0 }), audit('entries.commit'), limits),
      store.commit(request('app', [set('b', '1')], { release: true }), audit('entries.commit'), limits),
      store.commit(request('app', [set('c', '1'), set('d', '1')]), audit('entries.commit'), limits),
      store.commit(request('app', [set('e', '1')], { release: true }), audit('entries.commit'), limits),
      store.commit(request('app', [set('a', '2')], { release: true }), audit('entries.commit'), limits),
      store.commit(request('other', [set('y', '1')], { release: true }), audit('entries.commit'), limits),
    ];
    assert.deepEqual(await Promise.all(batch.map(settle)), [
      'ok',
      'precondition_failed', // `app` is at revision 1 by then
      'ok',
      'precondition_failed', // `other` is at revision 2 by then
      'ok',
      'ok',
      'namespace_full', // a, b, c, d: the fifth key is one too many
      'ok', // a change to a key it has
      'ok',
    ]);
    const app = await store.getNamespace('app');
    const other = await store.getNamespace('other');
    assert.deepEqual([app?.revision, app?.entryCount, other?.revision, other?.entryCount], [5, 4, 6, 2]);
    assert.equal(await store.currentRevision(), 6);
    const releases = async (namespace: string) =>
      (await store.listReleases({ namespace, limit: 10 })).map((r) => [r.seq, r.revision]).reverse();
    assert.deepEqual(await releases('app'), [
      [1, 1],
      [2, 3],
      [3, 5],
    ]);
    assert.deepEqual(await releases('other'), [
      [1, 2],
      [2, 6],
    ]);
    await assertAuditedCommits([1, 2, 3, 4, 5, 6]);
  });

  void it('a release made while commits wait for their batch includes them', async () => {
    await burst(0, 16); // the next batch now waits for more than the 3 below
    const pending = burst(16, 3);
    const release = await store.createRelease(
      { namespace: 'app', kind: 'manual', author: 'alice', note: '' },
      audit('release.create'),
    );
    const results = await pending;
    assert.deepEqual(
      results.map((r) => r.revision),
      [17, 18, 19],
    );
    assert.equal(release.revision, 19);
  });

  void it('close writes the commits still waiting for their batch', async () => {
    await burst(0, 16);
    const pending = burst(16, 2);
    await store.close();
    assert.deepEqual(
      (await pending).map((r) => r.revision),
      [17, 18],
    );
    store = SqliteStore.open({ path: join(dir, 'herald.db') });
    assert.equal(await store.currentRevision(), 18);
  });
});
