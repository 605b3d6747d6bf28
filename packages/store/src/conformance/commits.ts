/** Commits (EntryStore): changes, preconditions, locks, limits and concurrent commits. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { entryEtag, type Change } from '@herald/core';
import type { CommitResult } from '../types.js';
import {
  addresses,
  allAudit,
  audit,
  commit,
  conflictsOf,
  createNs,
  op,
  rejectsWith,
  request,
  set,
  snapshot,
  sortByAddress,
  type ConformanceTest,
} from './helpers.js';

export function commitConformance(test: ConformanceTest): void {
  void describe('commits', () => {
    test('commits take consecutive store-wide revisions starting at 1', async (store) => {
      assert.equal(await store.currentRevision(), 0);
      await createNs(store, 'a');
      await createNs(store, 'b');
      assert.equal(await store.currentRevision(), 0, 'namespace creation takes no revision');
      assert.equal((await commit(store, 'a', [set('x', '1')])).revision, 1);
      assert.equal((await commit(store, 'b', [set('x', '1')])).revision, 2);
      assert.equal((await commit(store, 'a', [set('y', '1')])).revision, 3);
      assert.equal(await store.currentRevision(), 3);
      assert.equal((await store.getNamespace('a'))?.revision, 3);
      assert.equal((await store.getNamespace('b'))?.revision, 2);
    });

    test('a commit returns the versions it wrote, as readEntries reads them', async (store) => {
      await createNs(store, 'app');
      const before = Date.now();
      const result = await commit(
        store,
        'app',
        [
          set('db/url', '{"host":"h"}', 'prod', {
            contentType: 'application/json',
            tags: { owner: 'team-a', ü: 'ß' },
          }),
          set('token', 'c2VjcmV0', '', { secret: true }),
        ],
        { author: 'bob', message: 'first' },
      );
      const after = Date.now();
      assert.equal(result.revision, 1);
      assert.equal(result.versions.length, 2);
      const [url, secret] = result.versions;
      assert.deepEqual(
        { ...url, createdAt: 0 },
        {
          namespace: 'app',
          key: 'db/url',
          label: 'prod',
          revision: 1,
          text: '{"host":"h"}',
          contentType: 'application/json',
          tags: { owner: 'team-a', ü: 'ß' },
          locked: false,
          secret: false,
          deleted: false,
          author: 'bob',
          createdAt: 0,
        },
      );
      assert.ok(url !== undefined && url.createdAt >= before && url.createdAt <= after);
      assert.equal(secret?.secret, true);
      assert.deepEqual(await store.readEntries({ namespace: 'app' }), sortByAddress(result.versions));
    });

    test('values, tags and content types round-trip exactly', async (store) => {
      await createNs(store, 'app');
      const texts = [
        '',
        ' padded ',
        'line\r\nbreak\n',
        'nul\u0000inside',
        '😀 emoji ｚ é',
        'x'.repeat(100_000),
        '{"a":[1,2.50,"\\u0000"]}',
      ];
      const changes = texts.map((text, i) =>
        set(`k${i}`, text, '', {
          contentType: `text/plain; charset=utf-8; v=${i}`,
          tags: {
            [`t${i}`]: text
              .slice(0, 20)
              .replace(/[\r\n]/gu, '')
              .replaceAll('\u0000', ''),
          },
        }),
      );
      await commit(store, 'app', changes);
      const read = await store.readEntries({ namespace: 'app' });
      assert.deepEqual(
        read.map((v) => [v.text, v.contentType, v.tags]),
        sortByAddress(changes as Array<Extract<Change, { op: 'set' }>>).map((c) => [c.text, c.contentType, c.tags]),
      );
    });

    test('a multi-change commit applies every change at one revision and is one commit', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('seed', '0')]);
      const result = await commit(
        store,
        'app',
        [set('a', '1'), set('a', '2', 'prod'), set('b', '3'), op('delete', 'seed')],
        { message: 'batch' },
      );
      assert.equal(result.revision, 2);
      const entries = await store.readEntries({ namespace: 'app' });
      assert.deepEqual(addresses(entries), ['a|', 'a|prod', 'b|']);
      assert.ok(entries.every((e) => e.revision === 2));
      const commits = await store.listCommits({ namespace: 'app', order: 'newest', limit: 10 });
      assert.equal(commits.length, 2);
      assert.deepEqual(commits[0]?.changes, [
        { op: 'set', key: 'a', label: '' },
        { op: 'set', key: 'a', label: 'prod' },
        { op: 'set', key: 'b', label: '' },
        { op: 'delete', key: 'seed', label: '' },
      ]);
      assert.equal((await store.getNamespace('app'))?.entryCount, 3);
    });

    test('a commit that fails part-way changes nothing', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('x', '1')]);
      const before = await snapshot(store, 'app');
      await rejectsWith(
        commit(store, 'app', [set('y', '2'), set('x', '3'), op('delete', 'missing')]),
        'entry_not_found',
      );
      assert.deepEqual(await snapshot(store, 'app'), before);
      // The next commit takes the next revision: the failed one used none.
      assert.equal((await commit(store, 'app', [set('y', '2')])).revision, 2);
    });

    test('a commit to a missing namespace fails with namespace_not_found', async (store) => {
      await rejectsWith(commit(store, 'ghost', [set('a', '1')]), 'namespace_not_found');
      assert.equal(await store.currentRevision(), 0);
      assert.deepEqual(await allAudit(store), []);
    });

    test('a commit naming one entry twice fails with duplicate_change and changes nothing', async (store) => {
      await createNs(store, 'app');
      const before = await snapshot(store, 'app');
      await rejectsWith(commit(store, 'app', [set('a', '1'), set('a', '2')]), 'duplicate_change');
      assert.deepEqual(await snapshot(store, 'app'), before);
    });

    test('entryCount follows sets, overwrites, deletes, locks and re-creation', async (store) => {
      await createNs(store, 'app');
      const count = async (): Promise<number | undefined> => (await store.getNamespace('app'))?.entryCount;
      await commit(store, 'app', [set('a', '1'), set('a', '1', 'prod'), set('b', '1')]);
      assert.equal(await count(), 3);
      await commit(store, 'app', [set('a', '2')]);
      assert.equal(await count(), 3, 'an overwrite adds no entry');
      await commit(store, 'app', [op('lock', 'b')]);
      assert.equal(await count(), 3);
      await commit(store, 'app', [op('delete', 'a', 'prod')]);
      assert.equal(await count(), 2);
      await commit(store, 'app', [set('a', '3', 'prod'), set('c', '1')]);
      assert.equal(await count(), 4);
    });

    test('an overwrite keeps one live version and the old one in history', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', 'old')]);
      await commit(store, 'app', [set('a', 'new')]);
      const live = await store.readEntries({ namespace: 'app' });
      assert.deepEqual(
        live.map((v) => [v.text, v.revision]),
        [['new', 2]],
      );
      const history = await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 10 });
      assert.deepEqual(
        history.map((v) => [v.text, v.revision]),
        [
          ['new', 2],
          ['old', 1],
        ],
      );
    });
  });

  void describe('preconditions', () => {
    test('ifRevision passes on the current revision and fails, listing the conflict, on any other', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1')]);
      await commit(store, 'app', [set('a', '2')]);
      const before = await snapshot(store, 'app');
      const error = await rejectsWith(
        commit(store, 'app', [set('a', 'stale', '', { ifRevision: 1 })]),
        'precondition_failed',
      );
      assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'revision 1', actualRevision: 2 }]);
      assert.deepEqual(await snapshot(store, 'app'), before);
      const ok = await commit(store, 'app', [set('a', 'fresh', '', { ifRevision: 2 })]);
      assert.equal(ok.revision, 3);
      assert.equal((await store.readEntries({ namespace: 'app', key: 'a' }))[0]?.text, 'fresh');
    });

    test('ifRevision 0 means the entry must not exist', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1', '', { ifRevision: 0 })]);
      const error = await rejectsWith(
        commit(store, 'app', [set('a', '2', '', { ifRevision: 0 })]),
        'precondition_failed',
      );
      assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'absent', actualRevision: 1 }]);
      assert.equal((await store.readEntries({ namespace: 'app' }))[0]?.text, '1');
    });

    test('ifEtag passes on the current ETag and fails on a stale or missing one', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1', 'prod')]);
      const etag1 = entryEtag({ namespace: 'app', key: 'a', label: 'prod' }, 1);
      await commit(store, 'app', [set('a', '2', 'prod', { ifEtag: etag1 })]);
      const before = await snapshot(store, 'app');
      const stale = await rejectsWith(
        commit(store, 'app', [set('a', '3', 'prod', { ifEtag: etag1 })]),
        'precondition_failed',
      );
      assert.deepEqual(conflictsOf(stale), [
        { key: 'a', label: 'prod', expected: `etag "${etag1}"`, actualRevision: 2 },
      ]);
      const missingEtag = entryEtag({ namespace: 'app', key: 'b', label: '' }, 1);
      const missing = await rejectsWith(
        commit(store, 'app', [set('b', '1', '', { ifEtag: missingEtag })]),
        'precondition_failed',
      );
      assert.deepEqual(conflictsOf(missing), [
        { key: 'b', label: '', expected: `etag "${missingEtag}"`, actualRevision: null },
      ]);
      assert.deepEqual(await snapshot(store, 'app'), before);
      const etag2 = entryEtag({ namespace: 'app', key: 'a', label: 'prod' }, 2);
      assert.equal((await commit(store, 'app', [op('delete', 'a', 'prod', { ifEtag: etag2 })])).revision, 3);
    });

    test('ifAbsent fails on a live entry and passes on a new or deleted one', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1', '', { ifAbsent: true })]);
      const error = await rejectsWith(
        commit(store, 'app', [set('a', '2', '', { ifAbsent: true })]),
        'precondition_failed',
      );
      assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'absent', actualRevision: 1 }]);
      await commit(store, 'app', [op('delete', 'a')]);
      const recreated = await commit(store, 'app', [set('a', '3', '', { ifAbsent: true })]);
      assert.equal(recreated.revision, 3);
    });

    test('every failed precondition of a commit is listed, and nothing is written', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1'), set('b', '1')]);
      const before = await snapshot(store, 'app');
      const error = await rejectsWith(
        commit(store, 'app', [
          set('a', 'x', '', { ifRevision: 7 }),
          set('c', 'new', '', { ifAbsent: true }),
          set('b', 'x', '', { ifAbsent: true }),
        ]),
        'precondition_failed',
      );
      assert.deepEqual(conflictsOf(error), [
        { key: 'a', label: '', expected: 'revision 7', actualRevision: 1 },
        { key: 'b', label: '', expected: 'absent', actualRevision: 1 },
      ]);
      assert.deepEqual(await snapshot(store, 'app'), before);
    });

    test('ifNamespaceRevision fails once the namespace moved, but not for commits elsewhere', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      await commit(store, 'app', [set('a', '1')]);
      await commit(store, 'other', [set('a', '1')]);
      // The store moved to 2, the namespace is still at 1.
      assert.equal((await commit(store, 'app', [set('b', '1')], { ifNamespaceRevision: 1 })).revision, 3);
      const before = await snapshot(store, 'app');
      const error = await rejectsWith(
        commit(store, 'app', [set('c', '1')], { ifNamespaceRevision: 2 }),
        'precondition_failed',
      );
      assert.deepEqual(conflictsOf(error), []);
      assert.deepEqual(await snapshot(store, 'app'), before);
      assert.equal((await commit(store, 'app', [set('c', '1')], { ifNamespaceRevision: 3 })).revision, 4);
    });
  });

  void describe('locks and deletes', () => {
    test('a locked entry refuses set and delete with entry_locked until unlocked', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', 'value', 'prod', { tags: { t: '1' } })]);
      const locked = await commit(store, 'app', [op('lock', 'a', 'prod')]);
      assert.equal(locked.versions[0]?.locked, true);
      assert.equal(locked.versions[0]?.text, 'value', 'locking keeps the value');
      assert.deepEqual(locked.versions[0]?.tags, { t: '1' });
      const live = await store.readEntries({ namespace: 'app' });
      assert.equal(live.length, 1, 'a locked entry is still readable');
      assert.equal(live[0]?.locked, true);
      const before = await snapshot(store, 'app');
      await rejectsWith(commit(store, 'app', [set('a', 'other', 'prod')]), 'entry_locked');
      await rejectsWith(commit(store, 'app', [op('delete', 'a', 'prod')]), 'entry_locked');
      await rejectsWith(commit(store, 'app', [set('b', 'fine'), set('a', 'other', 'prod')]), 'entry_locked');
      assert.deepEqual(await snapshot(store, 'app'), before);
      const unlocked = await commit(store, 'app', [op('unlock', 'a', 'prod')]);
      assert.equal(unlocked.versions[0]?.locked, false);
      const written = await commit(store, 'app', [set('a', 'other', 'prod')]);
      assert.equal(written.versions[0]?.text, 'other');
      assert.equal(written.versions[0]?.locked, false);
    });

    test('lock and unlock of a missing entry fail with entry_not_found', async (store) => {
      await createNs(store, 'app');
      await rejectsWith(commit(store, 'app', [op('lock', 'a')]), 'entry_not_found');
      await rejectsWith(commit(store, 'app', [op('unlock', 'a')]), 'entry_not_found');
      assert.equal(await store.currentRevision(), 0);
    });

    test('delete removes an entry from current reads; deleting a missing or deleted entry is entry_not_found', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1'), set('a', '1', 'prod')]);
      await rejectsWith(commit(store, 'app', [op('delete', 'nope')]), 'entry_not_found');
      await rejectsWith(commit(store, 'app', [op('delete', 'a', 'other-label')]), 'entry_not_found');
      const deleted = await commit(store, 'app', [op('delete', 'a')]);
      assert.equal(deleted.versions[0]?.deleted, true);
      assert.deepEqual(addresses(await store.readEntries({ namespace: 'app' })), ['a|prod']);
      await rejectsWith(commit(store, 'app', [op('delete', 'a')]), 'entry_not_found');
      assert.equal(await store.currentRevision(), 2);
    });
  });

  void describe('limits', () => {
    test('namespace_full refuses new entries past maxEntriesPerNamespace, counting every label', async (store) => {
      await createNs(store, 'app');
      const limits = { maxEntriesPerNamespace: 3 };
      const write = (changes: Change[]): Promise<CommitResult> =>
        store.commit(request('app', changes), audit('entries.commit'), limits);
      await write([set('a', '1'), set('a', '1', 'prod'), set('b', '1')]);
      const before = await snapshot(store, 'app');
      await rejectsWith(write([set('c', '1')]), 'namespace_full');
      await rejectsWith(write([set('b', '2'), set('c', '1')]), 'namespace_full');
      assert.deepEqual(await snapshot(store, 'app'), before);
      assert.equal((await write([set('a', '2')])).revision, 2, 'an overwrite of a full namespace is fine');
      assert.equal(
        (await write([op('delete', 'b'), set('c', '1')])).revision,
        3,
        'a commit that keeps the count is fine',
      );
      await write([op('delete', 'c')]);
      assert.equal((await write([set('d', '1')])).revision, 5, 'room made by a delete can be used');
      assert.equal((await store.getNamespace('app'))?.entryCount, 3);
    });
  });

  void describe('concurrency', () => {
    test('concurrent commits get distinct, consecutive revisions', async (store) => {
      const namespaces = ['a', 'b', 'c'];
      for (const n of namespaces) await createNs(store, n);
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          commit(store, namespaces[i % 3] as string, [set(`k${i}`, String(i))], { message: `m${i}` }),
        ),
      );
      const revisions = results.map((r) => r.revision).sort((x, y) => x - y);
      assert.deepEqual(
        revisions,
        Array.from({ length: 60 }, (_, i) => i + 1),
      );
      assert.equal(await store.currentRevision(), 60);
      for (const [i, result] of results.entries()) {
        const ns = namespaces[i % 3] as string;
        const [entry] = await store.readEntries({ namespace: ns, key: `k${i}` });
        assert.equal(entry?.revision, result.revision);
        assert.equal(entry?.text, String(i));
      }
      const commits = (
        await Promise.all(namespaces.map((ns) => store.listCommits({ namespace: ns, order: 'oldest', limit: 100 })))
      ).flat();
      assert.deepEqual(
        commits.map((c) => c.revision).sort((x, y) => x - y),
        revisions,
      );
      for (const c of commits)
        assert.equal(
          results[Number(c.message.slice(1))]?.revision,
          c.revision,
          'each commit record carries its own revision',
        );
    });

    test('concurrent commits with the same ifRevision: exactly one wins', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('counter', '0')]);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          commit(store, 'app', [set('counter', `writer ${i}`, '', { ifRevision: 1 })]),
        ),
      );
      const winners = outcomes.filter((o): o is PromiseFulfilledResult<CommitResult> => o.status === 'fulfilled');
      assert.equal(winners.length, 1);
      for (const o of outcomes) {
        if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'precondition_failed');
      }
      const [entry] = await store.readEntries({ namespace: 'app', key: 'counter' });
      assert.equal(entry?.revision, winners[0]?.value.revision);
      assert.equal(entry?.text, winners[0]?.value.versions[0]?.text);
      assert.equal(await store.currentRevision(), 2);
    });

    test('concurrent creates with ifAbsent: exactly one wins', async (store) => {
      await createNs(store, 'app');
      const outcomes = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          commit(store, 'app', [set('lock/owner', `node ${i}`, '', { ifAbsent: true })]),
        ),
      );
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
      for (const o of outcomes) {
        if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'precondition_failed');
      }
      assert.equal((await store.getNamespace('app'))?.entryCount, 1);
    });

    test('concurrent commits on one entry each build on the previous one', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '0')]);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => commit(store, 'app', [set('a', String(i + 1))])),
      );
      const history = await store.entryHistory({ namespace: 'app', key: 'a', label: '', limit: 100 });
      assert.equal(history.length, 21);
      assert.deepEqual(
        history.map((v) => v.revision),
        Array.from({ length: 21 }, (_, i) => 21 - i),
      );
      const newest = results.reduce((a, b) => (a.revision > b.revision ? a : b));
      assert.equal((await store.readEntries({ namespace: 'app' }))[0]?.text, newest.versions[0]?.text);
      assert.equal((await store.getNamespace('app'))?.entryCount, 1);
    });
  });
}
