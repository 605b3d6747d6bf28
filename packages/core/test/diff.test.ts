import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareAddresses, diffStates, sameContent, type EntryVersion } from '../src/index.js';

function v(key: string, fields: Partial<EntryVersion> = {}): EntryVersion {
  return {
    namespace: 'app',
    key,
    label: '',
    revision: 1,
    text: '1',
    contentType: 'application/json',
    tags: {},
    locked: false,
    secret: false,
    deleted: false,
    author: 'a',
    createdAt: 0,
    ...fields,
  };
}

void test('identical states have no diff', () => {
  const state = [v('a'), v('b', { label: 'prod' })];
  assert.deepEqual(diffStates(state, state), []);
  assert.deepEqual(diffStates([], []), []);
});

void test('added, removed and changed entries, with before and after', () => {
  const before = [v('keep'), v('change', { text: '1' }), v('remove')];
  const after = [v('keep'), v('change', { text: '2', revision: 2 }), v('add', { revision: 2 })];
  assert.deepEqual(diffStates(before, after), [
    { key: 'add', label: '', kind: 'added', after: after[2] },
    { key: 'change', label: '', kind: 'changed', before: before[1], after: after[1] },
    { key: 'remove', label: '', kind: 'removed', before: before[2] },
  ]);
});

void test('a difference only in revision, author or time is not a change', () => {
  const before = [v('a', { revision: 1, author: 'x', createdAt: 1 })];
  const after = [v('a', { revision: 9, author: 'y', createdAt: 2 })];
  assert.deepEqual(diffStates(before, after), []);
});

void test('each content field counts: text, content type, secret, locked, tags', () => {
  const base = v('a', { tags: { t: '1' } });
  const changes: Array<Partial<EntryVersion>> = [
    { text: '2' },
    { contentType: 'text/plain' },
    { secret: true },
    { locked: true },
    { tags: { t: '2' } },
    { tags: { u: '1' } },
    { tags: {} },
    { tags: { t: '1', u: '' } },
  ];
  for (const changed of changes) {
    const diffs = diffStates([base], [{ ...base, ...changed, revision: 2 }]);
    assert.equal(diffs.length, 1, JSON.stringify(changed));
    assert.equal(diffs[0]?.kind, 'changed');
  }
});

void test('tag order does not matter', () => {
  assert.deepEqual(diffStates([v('a', { tags: { x: '1', y: '2' } })], [v('a', { tags: { y: '2', x: '1' } })]), []);
});

void test('tombstones are absent: deleted on one side is added or removed, deleted on both is nothing', () => {
  assert.deepEqual(diffStates([v('a', { deleted: true })], [v('a', { deleted: true, revision: 3 })]), []);
  assert.deepEqual(
    diffStates([v('a', { deleted: true })], [v('a')]).map((d) => d.kind),
    ['added'],
  );
  assert.deepEqual(
    diffStates([v('a')], [v('a', { deleted: true })]).map((d) => d.kind),
    ['removed'],
  );
});

void test('the same key under different labels are different entries', () => {
  const diffs = diffStates([v('a', { label: 'dev' })], [v('a', { label: 'prod' })]);
  assert.deepEqual(
    diffs.map((d) => [d.key, d.label, d.kind]),
    [
      ['a', 'dev', 'removed'],
      ['a', 'prod', 'added'],
    ],
  );
});

void test('the result is sorted by key then label, whatever the input order', () => {
  const after = [v('b', { label: 'z' }), v('a', { label: 'y' }), v('b'), v('a')];
  const diffs = diffStates([], after);
  assert.deepEqual(
    diffs.map((d) => [d.key, d.label]),
    [
      ['a', ''],
      ['a', 'y'],
      ['b', ''],
      ['b', 'z'],
    ],
  );
});

void test('sameContent ignores revision and metadata but not content', () => {
  assert.equal(sameContent(v('a', { revision: 1 }), v('a', { revision: 2, author: 'z', createdAt: 5 })), true);
  assert.equal(sameContent(v('a'), v('a', { text: '2' })), false);
  assert.equal(sameContent(v('a', { tags: { a: '1' } }), v('a', { tags: { b: '1' } })), false);
  // A tag named like an Object.prototype member is compared as data, not looked up on the prototype.
  assert.equal(sameContent(v('a', { tags: { toString: 'x' } }), v('a', { tags: { other: 'x' } })), false);
});

void test('compareAddresses orders by key, then label', () => {
  assert.equal(compareAddresses({ key: 'a', label: 'z' }, { key: 'b', label: '' }), -1);
  assert.equal(compareAddresses({ key: 'b', label: '' }, { key: 'a', label: 'z' }), 1);
  assert.equal(compareAddresses({ key: 'a', label: '' }, { key: 'a', label: 'prod' }), -1);
  assert.equal(compareAddresses({ key: 'a', label: 'prod' }, { key: 'a', label: 'prod' }), 0);
});
