/** Reads (EntryStore): entries now and as of a revision, history, and point-in-time lookups. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { type CommitRecord, type EntryVersion } from '@herald/core';
import type { Store } from '../types.js';
import { addresses, commit, createNs, op, rejectsWith, set, sortByAddress, type ConformanceTest } from './helpers.js';

export function readConformance(test: ConformanceTest): void {
  void describe('reads', () => {
    const keys = ['a', 'a/b', 'aB', 'B', 'a-', 'a_b', 'axb', 'é', 'ｚ', '😀', '😀/x', 'db/pool/max', 'db/url', 'dbx'];

    async function seed(store: Store): Promise<EntryVersion[]> {
      await createNs(store, 'app');
      await createNs(store, 'zzz');
      await commit(store, 'zzz', [set('a', 'elsewhere')]);
      const changes = keys.flatMap((key, i) => [
        set(key, `v${i}`),
        ...(i % 2 === 0 ? [set(key, `p${i}`, 'prod'), set(key, `P${i}`, 'Prod')] : []),
      ]);
      return (await commit(store, 'app', changes)).versions;
    }

    test('readEntries returns the live entries of one namespace in (key, label) byte order', async (store) => {
      const written = await seed(store);
      const read = await store.readEntries({ namespace: 'app' });
      assert.deepEqual(read, sortByAddress(written));
      assert.deepEqual(await store.readEntries({ namespace: 'missing' }), []);
    });

    test('readEntries filters by exact key, by key prefix and by labels', async (store) => {
      await seed(store);
      const find = async (query: Omit<Parameters<Store['readEntries']>[0], 'namespace'>): Promise<string[]> =>
        addresses(await store.readEntries({ namespace: 'app', ...query }));
      assert.deepEqual(await find({ key: 'a' }), ['a|', 'a|Prod', 'a|prod']);
      assert.deepEqual(await find({ key: 'a', labels: ['prod'] }), ['a|prod']);
      assert.deepEqual(await find({ keyPrefix: 'db/' }), ['db/pool/max|', 'db/url|', 'db/url|Prod', 'db/url|prod']);
      // "_" must match itself only: an adapter using LIKE without escaping would also return "axb".
      assert.deepEqual(await find({ keyPrefix: 'a_' }), ['a_b|']);
      // Prefixes are compared by characters, not UTF-16 units or bytes.
      assert.deepEqual(await find({ keyPrefix: '😀' }), ['😀|', '😀/x|', '😀/x|Prod', '😀/x|prod']);
      assert.deepEqual(await find({ keyPrefix: 'é' }), ['é|']);
      assert.deepEqual(await find({ keyPrefix: 'nothing' }), []);
      assert.deepEqual(await find({ labels: [] }), [], 'an empty label filter matches nothing');
      const prod = await find({ labels: ['prod'] });
      assert.equal(prod.length, 7);
      assert.ok(prod.every((a) => a.endsWith('|prod')));
      const some = await find({ labels: ['', 'Prod'], keyPrefix: 'a' });
      assert.deepEqual(some, ['a|', 'a|Prod', 'a-|', 'a-|Prod', 'a/b|', 'aB|', 'aB|Prod', 'a_b|', 'axb|', 'axb|Prod']);
    });

    test('readEntries pages with after and limit', async (store) => {
      const all = sortByAddress(await seed(store));
      const paged: EntryVersion[] = [];
      let after: { key: string; label: string } | undefined;
      for (;;) {
        const page = await store.readEntries(
          after === undefined ? { namespace: 'app', limit: 4 } : { namespace: 'app', after, limit: 4 },
        );
        assert.ok(page.length <= 4);
        paged.push(...page);
        if (page.length < 4) break;
        const last = page.at(-1) as EntryVersion;
        after = { key: last.key, label: last.label };
      }
      assert.deepEqual(paged, all);
      // "after" sits between two labels of one key.
      assert.deepEqual(
        addresses(await store.readEntries({ namespace: 'app', after: { key: 'a', label: 'Prod' }, limit: 2 })),
        ['a|prod', 'a-|'],
      );
      assert.deepEqual(await store.readEntries({ namespace: 'app', limit: 0 }), []);
      assert.equal((await store.readEntries({ namespace: 'app', limit: 3 })).length, 3);
    });

    test('readEntries asOf reads the namespace as it was, deletes and overwrites included', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      await commit(store, 'app', [set('a', 'a1'), set('b', 'b1')]); // 1
      await commit(store, 'other', [set('x', 'x')]); // 2
      await commit(store, 'app', [set('a', 'a2'), set('c', 'c1')]); // 3
      await commit(store, 'app', [op('delete', 'b')]); // 4
      await commit(store, 'app', [op('lock', 'a')]); // 5
      await commit(store, 'app', [set('b', 'b2'), op('delete', 'c')]); // 6
      const at = async (asOf: number): Promise<Array<[string, string, number, boolean]>> =>
        (await store.readEntries({ namespace: 'app', asOf })).map((v) => [v.key, v.text, v.revision, v.locked]);
      assert.deepEqual(await at(0), []);
      assert.deepEqual(await at(1), [
        ['a', 'a1', 1, false],
        ['b', 'b1', 1, false],
      ]);
      assert.deepEqual(await at(2), [
        ['a', 'a1', 1, false],
        ['b', 'b1', 1, false],
      ]);
      assert.deepEqual(await at(3), [
        ['a', 'a2', 3, false],
        ['b', 'b1', 1, false],
        ['c', 'c1', 3, false],
      ]);
      assert.deepEqual(await at(4), [
        ['a', 'a2', 3, false],
        ['c', 'c1', 3, false],
      ]);
      assert.deepEqual(await at(5), [
        ['a', 'a2', 5, true],
        ['c', 'c1', 3, false],
      ]);
      assert.deepEqual(await at(6), [
        ['a', 'a2', 5, true],
        ['b', 'b2', 6, false],
      ]);
      assert.deepEqual(
        await store.readEntries({ namespace: 'app', asOf: 6 }),
        await store.readEntries({ namespace: 'app' }),
      );
      assert.deepEqual(addresses(await store.readEntries({ namespace: 'app', asOf: 3, keyPrefix: 'b' })), ['b|']);
      assert.deepEqual(
        addresses(await store.readEntries({ namespace: 'app', asOf: 3, after: { key: 'a', label: '' }, limit: 1 })),
        ['b|'],
      );
      await rejectsWith(store.readEntries({ namespace: 'app', asOf: 7 }), 'revision_not_found');
      await rejectsWith(store.readEntries({ namespace: 'app', asOf: -1 }), 'invalid_revision');
      await rejectsWith(store.readEntries({ namespace: 'app', asOf: 1.5 }), 'invalid_revision');
    });
  });

  void describe('history', () => {
    test('entryHistory lists versions newest first, tombstones included, paged by beforeRevision', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', 'v1'), set('a', 'p1', 'prod')]); // 1
      await commit(store, 'app', [set('a', 'v2')]); // 2
      await commit(store, 'app', [op('lock', 'a')]); // 3
      await commit(store, 'app', [op('unlock', 'a'), set('b', 'b1')]); // 4
      await commit(store, 'app', [op('delete', 'a')]); // 5
      await commit(store, 'app', [set('a', 'v3')]); // 6
      const history = await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 100 });
      assert.deepEqual(
        history.map((v) => [v.revision, v.text, v.locked, v.deleted]),
        [
          [6, 'v3', false, false],
          [5, 'v2', false, true],
          [4, 'v2', false, false],
          [3, 'v2', true, false],
          [2, 'v2', false, false],
          [1, 'v1', false, false],
        ],
      );
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 2 })).map((v) => v.revision),
        [6, 5],
      );
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', key: 'a', label: '', beforeRevision: 5, limit: 2 })).map(
          (v) => v.revision,
        ),
        [4, 3],
      );
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', key: 'a', label: '', beforeRevision: 2, limit: 2 })).map(
          (v) => v.revision,
        ),
        [1],
      );
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', key: 'a', label: 'prod', limit: 10 })).map((v) => v.text),
        ['p1'],
      );
      // Every label of a key, and the whole namespace: newest first, then (key, label).
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', key: 'a', limit: 100 })).map((v) => `${v.revision}:${v.label}`),
        ['6:', '5:', '4:', '3:', '2:', '1:', '1:prod'],
      );
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', beforeRevision: 5, limit: 3 })).map(
          (v) => `${v.revision}:${v.key}:${v.label}`,
        ),
        ['4:a:', '4:b:', '3:a:'],
      );
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', sinceRevision: 4, limit: 100 })).map(
          (v) => `${v.revision}:${v.key}:${v.label}`,
        ),
        ['6:a:', '5:a:', '4:a:', '4:b:'],
      );
      assert.deepEqual(
        (
          await store.entryHistory({
            namespace: 'app',
            key: 'a',
            label: '',
            sinceRevision: 2,
            beforeRevision: 5,
            limit: 100,
          })
        ).map((v) => v.revision),
        [4, 3, 2],
      );
      assert.deepEqual(
        (await store.entryHistory({ namespace: 'app', order: 'oldest', sinceRevision: 1, limit: 4 })).map(
          (v) => `${v.revision}:${v.key}:${v.label}`,
        ),
        ['1:a:', '1:a:prod', '2:a:', '3:a:'],
        'oldest first: revision ascending, then (key, label)',
      );
      assert.deepEqual(
        (
          await store.entryHistory({
            namespace: 'app',
            key: 'a',
            label: '',
            order: 'oldest',
            sinceRevision: 4,
            limit: 2,
          })
        ).map((v) => v.revision),
        [4, 5],
      );
      assert.deepEqual(await store.entryHistory({ namespace: 'app', key: 'zzz', limit: 10 }), []);
    });

    test('listCommits lists a namespace’s commits newest or oldest first, paged by afterRevision', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      const before = Date.now();
      for (let i = 1; i <= 5; i += 1) {
        await commit(store, 'app', [set(`k${i}`, 'x')], { author: `author${i}`, message: `message ${i}` });
        await commit(store, 'other', [set(`k${i}`, 'x')]);
      }
      await commit(store, 'app', [op('delete', 'k1'), op('lock', 'k2')], { author: 'z', message: 'two' });
      const after = Date.now();
      const newest = await store.listCommits({ namespace: 'app', order: 'newest', limit: 100 });
      assert.deepEqual(
        newest.map((c) => c.revision),
        [11, 9, 7, 5, 3, 1],
      );
      const first = newest.at(-1) as CommitRecord;
      assert.deepEqual(
        { ...first, createdAt: 0 },
        {
          revision: 1,
          namespace: 'app',
          author: 'author1',
          message: 'message 1',
          createdAt: 0,
          changes: [{ op: 'set', key: 'k1', label: '' }],
        },
      );
      assert.ok(first.createdAt >= before && first.createdAt <= after);
      assert.deepEqual(newest[0]?.changes, [
        { op: 'delete', key: 'k1', label: '' },
        { op: 'lock', key: 'k2', label: '' },
      ]);
      const oldest = await store.listCommits({ namespace: 'app', order: 'oldest', limit: 100 });
      assert.deepEqual(oldest, [...newest].reverse());
      assert.deepEqual(
        (await store.listCommits({ namespace: 'app', order: 'newest', afterRevision: 9, limit: 2 })).map(
          (c) => c.revision,
        ),
        [7, 5],
      );
      assert.deepEqual(
        (await store.listCommits({ namespace: 'app', order: 'oldest', afterRevision: 5, limit: 2 })).map(
          (c) => c.revision,
        ),
        [7, 9],
      );
      assert.deepEqual(await store.listCommits({ namespace: 'app', order: 'oldest', afterRevision: 11, limit: 2 }), []);
      assert.deepEqual(await store.listCommits({ namespace: 'app', order: 'newest', afterRevision: 1, limit: 2 }), []);
      assert.deepEqual(await store.listCommits({ namespace: 'missing', order: 'newest', limit: 2 }), []);
    });
  });

  void describe('point-in-time reads', () => {
    test('namespaceRevisionAt is the newest commit of the namespace at or before a time', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      const before = Date.now() - 1;
      assert.equal(await store.namespaceRevisionAt('app', Date.now()), 0);
      const r1 = await commit(store, 'app', [set('a', '1')]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const between = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await commit(store, 'other', [set('a', '1')]);
      const r3 = await commit(store, 'app', [set('a', '2')]);
      assert.equal(await store.namespaceRevisionAt('app', before), 0);
      assert.equal(await store.namespaceRevisionAt('app', between), r1.revision);
      assert.equal(await store.namespaceRevisionAt('app', Date.now() + 1000), r3.revision);
      assert.equal(await store.namespaceRevisionAt('other', between), 0);
      assert.equal(await store.namespaceRevisionAt('missing', Date.now()), 0);
    });
  });
}
