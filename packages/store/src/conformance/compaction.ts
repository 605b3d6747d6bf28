/** Compaction (EntryStore): what it drops, what it keeps, and what it refuses. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { type EntryVersion } from '@herald/core';
import type { Store } from '../types.js';
import { allAudit, audit, commit, createNs, op, rejectsWith, set, type ConformanceTest } from './helpers.js';

export function compactionConformance(test: ConformanceTest): void {
  void describe('compaction', () => {
    async function seedHistory(store: Store): Promise<void> {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', 'a1')]); // 1
      await commit(store, 'app', [set('a', 'a2')]); // 2
      await commit(store, 'app', [set('b', 'b1')]); // 3
      await commit(store, 'app', [op('delete', 'b')]); // 4
      await commit(store, 'app', [set('a', 'a3'), set('c', 'c1')]); // 5
    }

    test('compact drops what no read at or after it can see, and is audited', async (store) => {
      await seedHistory(store);
      const reads = new Map<number, EntryVersion[]>();
      for (const r of [4, 5]) reads.set(r, await store.readEntries({ namespace: 'app', asOf: r }));
      const current = await store.readEntries({ namespace: 'app' });
      const auditBefore = (await allAudit(store)).length;
      assert.equal(await store.compactedRevision(), 0);
      const result = await store.compact(4, audit('store.compact', 'store', { by: 'test' }));
      // a@1 (superseded at 2), b@3 (superseded at 4) and the tombstone b@4 are gone; a@2 is still
      // what revision 4 sees.
      assert.deepEqual(result, { revision: 4, removedVersions: 3 });
      assert.equal(await store.compactedRevision(), 4);
      const compacted = await rejectsWith(store.readEntries({ namespace: 'app', asOf: 3 }), 'revision_compacted');
      assert.equal(compacted.extensions.compactedRevision, 4);
      await rejectsWith(store.readEntries({ namespace: 'app', asOf: 0 }), 'revision_compacted');
      for (const r of [4, 5])
        assert.deepEqual(
          await store.readEntries({ namespace: 'app', asOf: r }),
          reads.get(r),
          `as-of ${r} is unchanged`,
        );
      assert.deepEqual(await store.readEntries({ namespace: 'app' }), current);
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 10 })).map((v) => v.revision),
        [5, 2],
      );
      assert.deepEqual(await store.entryHistory({ namespace: 'app', key: 'b', label: '', limit: 10 }), []);
      const records = await allAudit(store);
      assert.equal(records.length, auditBefore + 1);
      assert.equal(records.at(-1)?.action, 'store.compact');
      assert.deepEqual(records.at(-1)?.details, { by: 'test', revision: 4, removedVersions: 3 });
      assert.equal(await store.currentRevision(), 5, 'compaction takes no revision');
      // Writing after compaction works, including to an entry whose tombstone was dropped.
      const again = await commit(store, 'app', [set('b', 'b2', '', { ifAbsent: true })]);
      assert.equal(again.revision, 6);
      assert.equal((await store.getNamespace('app'))?.entryCount, 3);
      assert.deepEqual(await store.readEntries({ namespace: 'app', asOf: 5 }), reads.get(5));
    });

    test('compact at or below the compacted revision does nothing; bad revisions are invalid_revision', async (store) => {
      await seedHistory(store);
      await store.compact(3, audit('store.compact'));
      const auditCount = (await allAudit(store)).length;
      assert.deepEqual(await store.compact(2, audit('store.compact')), { revision: 3, removedVersions: 0 });
      assert.deepEqual(await store.compact(3, audit('store.compact')), { revision: 3, removedVersions: 0 });
      assert.equal(await store.compactedRevision(), 3);
      await rejectsWith(store.compact(0, audit('store.compact')), 'invalid_revision');
      await rejectsWith(store.compact(6, audit('store.compact')), 'invalid_revision');
      await rejectsWith(store.compact(4.5, audit('store.compact')), 'invalid_revision');
      assert.equal((await allAudit(store)).length, auditCount, 'compactions that did nothing are not audited');
      assert.equal(await store.compactedRevision(), 3);
      const later = await store.compact(5, audit('store.compact'));
      assert.equal(later.revision, 5);
      assert.equal(await store.compactedRevision(), 5);
      assert.deepEqual(
        (await store.readEntries({ namespace: 'app', asOf: 5 })).map((v) => v.text),
        ['a3', 'c1'],
      );
    });
  });
}
