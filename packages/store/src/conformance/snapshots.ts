/** Snapshots (SnapshotStore): immutable copies of entries, their status and items. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { SnapshotRecord } from '../types.js';
import { addresses, allAudit, audit, commit, createNs, op, rejectsWith, set, type ConformanceTest } from './helpers.js';

export function snapshotConformance(test: ConformanceTest): void {
  void describe('snapshots', () => {
    const record = (name: string, extra: Partial<SnapshotRecord> = {}): SnapshotRecord => ({
      namespace: 'app',
      name,
      status: 'ready',
      filters: [
        { key: 'a*', label: '' },
        { key: 'b', tags: ['t=1'] },
      ],
      compositionType: 'key',
      retentionPeriod: 3600,
      tags: { team: 'x' },
      createdAt: 1000,
      expiresAt: null,
      revision: 0,
      itemsCount: 0,
      size: 0,
      etag: `etag-${name}`,
      ...extra,
    });

    test('createSnapshot keeps a copy of its items that later commits do not change', async (store) => {
      await createNs(store, 'app');
      const first = await commit(store, 'app', [
        set('a1', 'one'),
        set('a2', 'two', 'prod', { tags: { t: '1' } }),
        set('zz', '{}', '', { contentType: 'application/json' }),
      ]);
      const items = await store.readEntries({ namespace: 'app' });
      const snap = record('s1', { revision: first.revision, itemsCount: items.length, size: 42 });
      assert.deepEqual(await store.createSnapshot(snap, items, audit('snapshot.create', 'namespace:app')), snap);
      await commit(store, 'app', [set('a1', 'changed'), op('delete', 'zz')]);
      assert.deepEqual(await store.getSnapshot('app', 's1'), snap);
      assert.deepEqual(await store.readSnapshotItems({ namespace: 'app', name: 's1' }), items);
      assert.deepEqual(
        addresses(
          await store.readSnapshotItems({ namespace: 'app', name: 's1', after: { key: 'a1', label: '' }, limit: 1 }),
        ),
        ['a2|prod'],
      );
      assert.deepEqual(
        addresses(await store.readSnapshotItems({ namespace: 'app', name: 's1', after: { key: 'a2', label: 'prod' } })),
        ['zz|'],
      );
      assert.deepEqual(await store.readSnapshotItems({ namespace: 'app', name: 'missing' }), []);
      assert.equal(await store.getSnapshot('app', 'missing'), undefined);
      assert.equal(await store.getSnapshot('other', 's1'), undefined);
    });

    test('a snapshot name is taken until the archived snapshot expires; an empty snapshot is fine', async (store) => {
      await createNs(store, 'app');
      await store.createSnapshot(record('s1'), [], audit('snapshot.create'));
      const before = await allAudit(store);
      await rejectsWith(
        store.createSnapshot(record('s1', { createdAt: 99_999 }), [], audit('snapshot.create')),
        'snapshot_exists',
      );
      await rejectsWith(
        store.createSnapshot(record('s1', { namespace: 'nope' }), [], audit('snapshot.create')),
        'namespace_not_found',
      );
      assert.deepEqual(await allAudit(store), before, 'failures record nothing');
      await store.updateSnapshot(
        'app',
        's1',
        { status: 'archived', expiresAt: 5000, etag: 'e2' },
        undefined,
        audit('snapshot.archive'),
      );
      await rejectsWith(
        store.createSnapshot(record('s1', { createdAt: 4999 }), [], audit('snapshot.create')),
        'snapshot_exists',
      );
      const replacement = record('s1', { createdAt: 5000, etag: 'e3' });
      await store.createSnapshot(replacement, [], audit('snapshot.create'));
      assert.deepEqual(await store.getSnapshot('app', 's1'), replacement);
    });

    test('updateSnapshot sets status, expiry and etag, honours ifEtag; listSnapshots pages by name', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      for (const name of ['c', 'a', 'b']) await store.createSnapshot(record(name), [], audit('snapshot.create'));
      await store.createSnapshot(record('a', { namespace: 'other' }), [], audit('snapshot.create'));
      const archived = await store.updateSnapshot(
        'app',
        'b',
        { status: 'archived', expiresAt: 9000, etag: 'e2' },
        'etag-b',
        audit('snapshot.archive'),
      );
      assert.deepEqual(archived, record('b', { status: 'archived', expiresAt: 9000, etag: 'e2' }));
      assert.deepEqual(await store.getSnapshot('app', 'b'), archived);
      const count = (await allAudit(store)).length;
      await rejectsWith(
        store.updateSnapshot('app', 'b', { status: 'ready', expiresAt: null, etag: 'e3' }, 'etag-b', audit('x')),
        'precondition_failed',
      );
      await rejectsWith(
        store.updateSnapshot('app', 'zz', { status: 'ready', expiresAt: null, etag: 'e3' }, undefined, audit('x')),
        'snapshot_not_found',
      );
      assert.equal((await allAudit(store)).length, count);
      assert.deepEqual(
        (await store.listSnapshots({ namespace: 'app', limit: 10 })).map((x) => x.name),
        ['a', 'b', 'c'],
      );
      assert.deepEqual(
        (await store.listSnapshots({ namespace: 'app', after: 'a', limit: 1 })).map((x) => x.name),
        ['b'],
      );
      assert.deepEqual(
        (await store.listSnapshots({ namespace: 'other', limit: 10 })).map((x) => x.namespace),
        ['other'],
      );
    });

    test('deleting a namespace removes its snapshots and their items', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1')]);
      await store.createSnapshot(record('s1'), await store.readEntries({ namespace: 'app' }), audit('snapshot.create'));
      await store.deleteNamespace('app', { force: true }, audit('namespace.delete'));
      await createNs(store, 'app');
      assert.equal(await store.getSnapshot('app', 's1'), undefined);
      assert.deepEqual(await store.readSnapshotItems({ namespace: 'app', name: 's1' }), []);
      await store.createSnapshot(record('s1'), [], audit('snapshot.create'));
    });
  });
}
