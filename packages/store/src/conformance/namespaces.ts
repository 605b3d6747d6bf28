/** Namespaces (EntryStore): create, read, list, update and delete. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { type NamespaceSchema } from '@herald/core';
import { audit, byteOrder, commit, createNs, op, rejectsWith, set, snapshot, type ConformanceTest } from './helpers.js';

export function namespaceConformance(test: ConformanceTest): void {
  void describe('namespaces', () => {
    test('createNamespace returns the record and getNamespace reads it back', async (store) => {
      const schema: NamespaceSchema = {
        document: { type: 'object', required: ['a'] },
        prefixes: [{ prefix: 'db/', schema: { type: 'integer' } }],
      };
      const before = Date.now();
      const created = await store.createNamespace(
        { name: 'payments', description: 'money', schema },
        audit('namespace.create'),
      );
      const after = Date.now();
      assert.equal(created.name, 'payments');
      assert.equal(created.description, 'money');
      assert.deepEqual(created.schema, schema);
      assert.equal(created.revision, 0);
      assert.equal(created.entryCount, 0);
      assert.ok(created.createdAt >= before && created.createdAt <= after, 'createdAt is the time of creation');
      assert.deepEqual(await store.getNamespace('payments'), created);
      await store.createNamespace({ name: 'plain', description: '', schema: null }, audit('namespace.create'));
      assert.equal((await store.getNamespace('plain'))?.schema, null);
      assert.equal((await store.getNamespace('plain'))?.description, '');
    });

    test('createNamespace refuses an existing name with namespace_exists and records nothing', async (store) => {
      await createNs(store, 'payments');
      const before = await snapshot(store, 'payments');
      await rejectsWith(
        store.createNamespace({ name: 'payments', description: 'again', schema: null }, audit('namespace.create')),
        'namespace_exists',
      );
      assert.deepEqual(await snapshot(store, 'payments'), before);
    });

    test('getNamespace of a missing namespace is undefined', async (store) => {
      assert.equal(await store.getNamespace('nope'), undefined);
    });

    test('listNamespaces returns names in byte order, paged with after and limit', async (store) => {
      // Byte order puts "-" < "." < digits < "_" < letters; a locale collation would not.
      const names = ['b', 'a-1', 'a.1', 'a_1', 'a1', 'a', '0z'];
      for (const n of names) await createNs(store, n);
      const expected = [...names].sort(byteOrder);
      const all = await store.listNamespaces({ limit: 100 });
      assert.deepEqual(
        all.map((n) => n.name),
        expected,
      );
      const paged: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listNamespaces(after === undefined ? { limit: 3 } : { after, limit: 3 });
        assert.ok(page.length <= 3);
        paged.push(...page.map((n) => n.name));
        if (page.length < 3) break;
        after = page.at(-1)?.name;
      }
      assert.deepEqual(paged, expected);
      assert.deepEqual(
        await store.listNamespaces({ after: 'a.1', limit: 2 }).then((p) => p.map((n) => n.name)),
        expected.slice(expected.indexOf('a.1') + 1, expected.indexOf('a.1') + 3),
      );
    });

    test('updateNamespace changes only what the patch names', async (store) => {
      const schema: NamespaceSchema = { document: { type: 'object' } };
      const created = await store.createNamespace(
        { name: 'app', description: 'first', schema },
        audit('namespace.create'),
      );
      await commit(store, 'app', [set('a', '1')]);
      const described = await store.updateNamespace('app', { description: 'second' }, audit('namespace.update'));
      assert.equal(described.description, 'second');
      assert.deepEqual(described.schema, schema, 'a patch without schema keeps the schema');
      assert.equal(described.revision, 1, 'updating metadata is not a commit');
      assert.equal(described.entryCount, 1);
      assert.equal(described.createdAt, created.createdAt);
      const newSchema: NamespaceSchema = { prefixes: [{ prefix: 'x', schema: { type: 'string' } }] };
      const reschemed = await store.updateNamespace('app', { schema: newSchema }, audit('namespace.update'));
      assert.equal(reschemed.description, 'second', 'a patch without description keeps the description');
      assert.deepEqual(reschemed.schema, newSchema);
      const cleared = await store.updateNamespace('app', { schema: null }, audit('namespace.update'));
      assert.equal(cleared.schema, null);
      assert.deepEqual(await store.getNamespace('app'), cleared);
      assert.equal(await store.currentRevision(), 1);
      await rejectsWith(
        store.updateNamespace('missing', { description: 'x' }, audit('namespace.update')),
        'namespace_not_found',
      );
    });

    test('deleteNamespace removes an empty namespace; a missing one is namespace_not_found', async (store) => {
      await createNs(store, 'a');
      await createNs(store, 'b');
      await store.deleteNamespace('a', { force: false }, audit('namespace.delete'));
      assert.equal(await store.getNamespace('a'), undefined);
      assert.deepEqual(
        (await store.listNamespaces({ limit: 10 })).map((n) => n.name),
        ['b'],
      );
      await rejectsWith(store.deleteNamespace('a', { force: false }, audit('namespace.delete')), 'namespace_not_found');
    });

    test('deleteNamespace refuses live entries unless forced, and changes nothing', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1'), set('b', '2')]);
      const before = await snapshot(store, 'app');
      await rejectsWith(
        store.deleteNamespace('app', { force: false }, audit('namespace.delete')),
        'namespace_not_empty',
      );
      assert.deepEqual(await snapshot(store, 'app'), before);
    });

    test('deleteNamespace counts only live entries: deleted ones do not block it', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1')]);
      await commit(store, 'app', [op('delete', 'a')]);
      await store.deleteNamespace('app', { force: false }, audit('namespace.delete'));
      assert.equal(await store.getNamespace('app'), undefined);
    });

    test('forced deleteNamespace removes entries, history and commits; the name starts afresh', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      await commit(store, 'app', [set('a', '1'), set('b', '2', 'prod')]);
      await commit(store, 'app', [set('a', '3'), op('lock', 'b', 'prod')]);
      await commit(store, 'other', [set('keep', 'me')]);
      await store.deleteNamespace('app', { force: true }, audit('namespace.delete'));
      assert.equal(await store.getNamespace('app'), undefined);
      assert.equal(await store.currentRevision(), 3, 'the store revision never goes back');
      await createNs(store, 'app');
      const fresh = await store.getNamespace('app');
      assert.equal(fresh?.revision, 0);
      assert.equal(fresh?.entryCount, 0);
      assert.deepEqual(await store.readEntries({ namespace: 'app' }), []);
      assert.deepEqual(
        await store.readEntries({ namespace: 'app', asOf: 2 }),
        [],
        'no as-of read sees the old namespace',
      );
      assert.deepEqual(await store.entryHistory({ namespace: 'app', limit: 100 }), []);
      assert.deepEqual(await store.listCommits({ namespace: 'app', order: 'newest', limit: 100 }), []);
      // A locked entry of the old namespace is gone too: the same key can be written.
      const next = await commit(store, 'app', [set('b', 'new', 'prod')]);
      assert.equal(next.revision, 4, 'revisions continue after a delete; none is reused');
      assert.equal((await store.readEntries({ namespace: 'other' })).length, 1, 'other namespaces are untouched');
    });
  });
}
