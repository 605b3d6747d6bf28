/** The change feed (RevisionFeed) and close (StoreLifecycle). */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { audit, commit, createNs, eventually, rejectsWith, set, type ConformanceTest } from './helpers.js';

export function lifecycleConformance(test: ConformanceTest): void {
  void describe('watchRevisions', () => {
    test('listeners hear new revisions; an unsubscribed one hears no more', async (store) => {
      await createNs(store, 'app');
      const heardA: number[] = [];
      const heardB: number[] = [];
      const stopA = store.watchRevisions((r) => heardA.push(r));
      store.watchRevisions((r) => heardB.push(r));
      const first = await commit(store, 'app', [set('a', '1')]);
      await eventually(
        () => heardA.includes(first.revision) && heardB.includes(first.revision),
        'both listeners to hear revision 1',
      );
      stopA();
      const countA = heardA.length;
      const second = await commit(store, 'app', [set('a', '2')]);
      await eventually(() => heardB.includes(second.revision), 'the remaining listener to hear revision 2');
      const third = await commit(store, 'app', [set('a', '3')]);
      await eventually(() => heardB.includes(third.revision), 'the remaining listener to hear revision 3');
      assert.equal(heardA.length, countA, 'the unsubscribed listener heard nothing more');
      assert.ok(heardA.every((r) => r <= first.revision));
      for (let i = 1; i < heardB.length; i += 1)
        assert.ok((heardB[i] as number) > (heardB[i - 1] as number), 'revisions only grow');
    });
  });

  void describe('close', () => {
    test('close finishes accepted commits, is idempotent, and later calls fail with shutting_down', async (store) => {
      await createNs(store, 'app');
      const pending = commit(store, 'app', [set('a', '1')]);
      await store.close();
      assert.equal((await pending).revision, 1, 'a commit accepted before close completes');
      await store.close();
      await rejectsWith(store.currentRevision(), 'shutting_down');
      await rejectsWith(store.readEntries({ namespace: 'app' }), 'shutting_down');
      await rejectsWith(commit(store, 'app', [set('b', '1')]), 'shutting_down');
      await rejectsWith(store.appendAudit(audit('x')), 'shutting_down');
    });
  });
}
