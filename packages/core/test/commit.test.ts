import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressId,
  checkDistinctChanges,
  entryEtag,
  HeraldError,
  planCommit,
  type Change,
  type ChangePrecondition,
  type Conflict,
  type EntryVersion,
  type ErrorCode,
  type PlannedCommit,
} from '../src/index.js';

const namespace = 'app';
const revision = 10;
const now = 1_700_000_000_000;
const etagOf = (v: EntryVersion): string => entryEtag(v, v.revision);

function stored(key: string, fields: Partial<EntryVersion> = {}): EntryVersion {
  return {
    namespace,
    key,
    label: '',
    revision: 5,
    text: `"${key} value"`,
    contentType: 'application/json',
    tags: { owner: 'team' },
    locked: false,
    secret: false,
    deleted: false,
    author: 'earlier',
    createdAt: 1000,
    ...fields,
  };
}

function state(...versions: EntryVersion[]): Map<string, EntryVersion> {
  return new Map(versions.map((v) => [addressId(v), v]));
}

function set(key: string, text = '"new"', label = '', pre: ChangePrecondition = {}): Change {
  return { op: 'set', key, label, text, contentType: 'application/json', tags: {}, secret: false, ...pre };
}

function op(kind: 'delete' | 'lock' | 'unlock', key: string, label = '', pre: ChangePrecondition = {}): Change {
  return { op: kind, key, label, ...pre };
}

function plan(changes: Change[], current: ReadonlyMap<string, EntryVersion> = new Map()): PlannedCommit {
  return planCommit({ namespace, changes, author: 'alice', message: 'm' }, current, etagOf, revision, now);
}

function planError(changes: Change[], current: ReadonlyMap<string, EntryVersion>, code: ErrorCode): HeraldError {
  let caught: unknown;
  try {
    plan(changes, current);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HeraldError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

function conflictsOf(error: HeraldError): Conflict[] {
  return error.extensions['conflicts'] as Conflict[];
}

void describe('planCommit: set', () => {
  void test('a new entry becomes a live version at the commit revision, and liveDelta is +1', () => {
    const change: Change = {
      op: 'set',
      key: 'db/host',
      label: 'prod',
      text: 'h',
      contentType: 'text/plain',
      tags: { a: 'b' },
      secret: true,
    };
    const planned = plan([change]);
    assert.deepEqual(planned, {
      liveDelta: 1,
      versions: [
        {
          namespace,
          key: 'db/host',
          label: 'prod',
          revision,
          author: 'alice',
          createdAt: now,
          text: 'h',
          contentType: 'text/plain',
          tags: { a: 'b' },
          secret: true,
          locked: false,
          deleted: false,
        },
      ],
    });
  });

  void test('setting an existing entry writes a new version and does not change liveDelta', () => {
    const planned = plan([set('a', '"v2"')], state(stored('a')));
    assert.equal(planned.liveDelta, 0);
    assert.equal(planned.versions.length, 1);
    assert.equal(planned.versions[0]?.text, '"v2"');
    assert.equal(planned.versions[0]?.revision, revision);
    assert.deepEqual(planned.versions[0]?.tags, {});
  });

  void test('setting a tombstoned entry counts as new (liveDelta +1)', () => {
    const planned = plan([set('a')], state(stored('a', { deleted: true, revision: 7 })));
    assert.equal(planned.liveDelta, 1);
    assert.equal(planned.versions[0]?.deleted, false);
  });

  void test('labels are separate entries', () => {
    const planned = plan([set('a', '"x"', 'prod')], state(stored('a')));
    assert.equal(planned.liveDelta, 1);
    assert.equal(planned.versions[0]?.label, 'prod');
  });

  void test('entries of the current state that no change names are not written', () => {
    const planned = plan([set('a')], state(stored('a'), stored('b'), stored('c')));
    assert.deepEqual(
      planned.versions.map((v) => v.key),
      ['a'],
    );
  });

  void test('an empty commit plans nothing', () => {
    assert.deepEqual(plan([], state(stored('a'))), { versions: [], liveDelta: 0 });
  });

  void test('liveDelta sums over all changes', () => {
    const current = state(stored('existing'), stored('gone'), stored('dead', { deleted: true }));
    const planned = plan([set('new1'), set('new2'), set('existing'), op('delete', 'gone'), set('dead')], current);
    assert.equal(planned.liveDelta, 1 + 1 + 0 - 1 + 1);
    assert.deepEqual(
      planned.versions.map((v) => [v.key, v.deleted]),
      [
        ['new1', false],
        ['new2', false],
        ['existing', false],
        ['gone', true],
        ['dead', false],
      ],
    );
  });
});

void describe('planCommit: delete', () => {
  void test('delete writes a tombstone at the commit revision and liveDelta is -1', () => {
    const before = stored('a', { label: 'prod' });
    const planned = plan([op('delete', 'a', 'prod')], state(before));
    assert.equal(planned.liveDelta, -1);
    assert.equal(planned.versions.length, 1);
    const tombstone = planned.versions[0];
    assert.ok(tombstone);
    assert.equal(tombstone.deleted, true);
    assert.equal(tombstone.key, 'a');
    assert.equal(tombstone.label, 'prod');
    assert.equal(tombstone.namespace, namespace);
    assert.equal(tombstone.revision, revision);
    assert.equal(tombstone.author, 'alice');
    assert.equal(tombstone.createdAt, now);
    assert.equal(tombstone.locked, false);
  });

  void test('the stored version is not mutated', () => {
    const before = stored('a');
    const copy = structuredClone(before);
    plan([op('delete', 'a')], state(before));
    plan([op('lock', 'a')], state(before));
    assert.deepEqual(before, copy);
  });

  void test('deleting a missing or already deleted entry is entry_not_found', () => {
    planError([op('delete', 'missing')], state(stored('a')), 'entry_not_found');
    planError([op('delete', 'a')], state(stored('a', { deleted: true })), 'entry_not_found');
  });
});

void describe('planCommit: lock and unlock', () => {
  void test('lock writes a locked copy of the current content', () => {
    const before = stored('a', {
      text: 'secret-ciphertext',
      contentType: 'text/plain',
      tags: { t: '1' },
      secret: true,
    });
    const planned = plan([op('lock', 'a')], state(before));
    assert.equal(planned.liveDelta, 0);
    assert.deepEqual(planned.versions, [
      { ...before, revision, author: 'alice', createdAt: now, locked: true, deleted: false },
    ]);
  });

  void test('unlock writes an unlocked copy', () => {
    const planned = plan([op('unlock', 'a')], state(stored('a', { locked: true })));
    assert.equal(planned.versions[0]?.locked, false);
    assert.equal(planned.versions[0]?.deleted, false);
    assert.equal(planned.liveDelta, 0);
  });

  void test('a locked entry refuses set and delete with entry_locked, naming the entry', () => {
    const current = state(stored('a', { label: 'prod', locked: true }));
    for (const change of [set('a', '"x"', 'prod'), op('delete', 'a', 'prod')]) {
      const error = planError([change], current, 'entry_locked');
      assert.deepEqual(error.extensions, { key: 'a', label: 'prod' });
      assert.equal(error.status, 409);
    }
  });

  void test('a locked entry refuses the whole commit, even when other changes are fine', () => {
    const current = state(stored('a', { locked: true }), stored('b'));
    planError([set('b'), set('c'), set('a')], current, 'entry_locked');
  });

  void test('a lock on one label does not lock the others', () => {
    const current = state(stored('a', { label: 'prod', locked: true }), stored('a'));
    assert.equal(plan([set('a', '"x"', '')], current).versions.length, 1);
  });

  void test('a locked entry may be locked again and unlocked; after unlock it can be set', () => {
    const locked = stored('a', { locked: true });
    assert.equal(plan([op('lock', 'a')], state(locked)).versions[0]?.locked, true);
    const unlocked = plan([op('unlock', 'a')], state(locked)).versions[0];
    assert.ok(unlocked);
    const planned = planCommit(
      { namespace, changes: [set('a', '"after"')], author: 'bob', message: '' },
      state(unlocked),
      etagOf,
      revision + 1,
      now + 1,
    );
    assert.equal(planned.versions[0]?.text, '"after"');
    assert.equal(planned.versions[0]?.locked, false);
  });

  void test('a set on an unlocked entry never makes it locked', () => {
    assert.equal(plan([set('a')], state(stored('a'))).versions[0]?.locked, false);
  });

  void test('lock and unlock of a missing or deleted entry are entry_not_found', () => {
    for (const kind of ['lock', 'unlock'] as const) {
      planError([op(kind, 'missing')], new Map(), 'entry_not_found');
      planError([op(kind, 'a')], state(stored('a', { deleted: true })), 'entry_not_found');
    }
  });
});

void describe('planCommit: preconditions', () => {
  void test('ifRevision passes on the current revision', () => {
    assert.equal(plan([set('a', '"x"', '', { ifRevision: 5 })], state(stored('a'))).versions.length, 1);
    assert.equal(plan([op('delete', 'a', '', { ifRevision: 5 })], state(stored('a'))).liveDelta, -1);
    assert.equal(plan([op('lock', 'a', '', { ifRevision: 5 })], state(stored('a'))).versions.length, 1);
  });

  void test('ifRevision fails on any other revision, reporting the actual one', () => {
    for (const expected of [4, 6, 1, 10]) {
      const error = planError(
        [set('a', '"x"', '', { ifRevision: expected })],
        state(stored('a')),
        'precondition_failed',
      );
      assert.equal(error.status, 412);
      assert.deepEqual(conflictsOf(error), [
        { key: 'a', label: '', expected: `revision ${expected}`, actualRevision: 5 },
      ]);
    }
  });

  void test('ifRevision fails on a missing or deleted entry, whose actual revision is null', () => {
    for (const current of [new Map<string, EntryVersion>(), state(stored('a', { deleted: true }))]) {
      const error = planError([set('a', '"x"', '', { ifRevision: 5 })], current, 'precondition_failed');
      assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'revision 5', actualRevision: null }]);
    }
  });

  void test('ifRevision 0 means absent: passes on a missing or deleted entry, fails on a live one', () => {
    assert.equal(plan([set('a', '"x"', '', { ifRevision: 0 })]).liveDelta, 1);
    assert.equal(plan([set('a', '"x"', '', { ifRevision: 0 })], state(stored('a', { deleted: true }))).liveDelta, 1);
    const error = planError([set('a', '"x"', '', { ifRevision: 0 })], state(stored('a')), 'precondition_failed');
    assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: 'absent', actualRevision: 5 }]);
  });

  void test('ifAbsent passes on a missing or deleted entry and fails on a live one', () => {
    assert.equal(plan([set('a', '"x"', '', { ifAbsent: true })]).liveDelta, 1);
    assert.equal(plan([set('a', '"x"', '', { ifAbsent: true })], state(stored('a', { deleted: true }))).liveDelta, 1);
    const error = planError(
      [set('a', '"x"', 'prod', { ifAbsent: true })],
      state(stored('a', { label: 'prod', revision: 8 })),
      'precondition_failed',
    );
    assert.deepEqual(conflictsOf(error), [{ key: 'a', label: 'prod', expected: 'absent', actualRevision: 8 }]);
  });

  void test('ifAbsent false imposes nothing', () => {
    assert.equal(plan([set('a', '"x"', '', { ifAbsent: false })], state(stored('a'))).versions.length, 1);
  });

  void test('ifEtag passes on the current ETag and fails on any other', () => {
    const current = stored('a');
    const etag = etagOf(current);
    assert.equal(plan([set('a', '"x"', '', { ifEtag: etag })], state(current)).versions.length, 1);
    const stale = entryEtag(current, 4);
    const error = planError([set('a', '"x"', '', { ifEtag: stale })], state(current), 'precondition_failed');
    assert.deepEqual(conflictsOf(error), [{ key: 'a', label: '', expected: `etag "${stale}"`, actualRevision: 5 }]);
  });

  void test('ifEtag fails on a missing entry, and on a deleted one even with the tombstone ETag', () => {
    const tombstone = stored('a', { deleted: true });
    for (const current of [new Map<string, EntryVersion>(), state(tombstone)]) {
      const error = planError([set('a', '"x"', '', { ifEtag: etagOf(tombstone) })], current, 'precondition_failed');
      assert.equal(conflictsOf(error)[0]?.actualRevision, null);
    }
  });

  void test('ifEtag uses the etagOf function it is given', () => {
    const current = stored('a');
    assert.equal(
      planCommit(
        { namespace, changes: [set('a', '"x"', '', { ifEtag: 'W/custom' })], author: 'a', message: '' },
        state(current),
        () => 'W/custom',
        revision,
        now,
      ).versions.length,
      1,
    );
  });

  void test('every precondition on one change must hold', () => {
    const current = stored('a');
    planError([set('a', '"x"', '', { ifRevision: 5, ifEtag: 'wrong' })], state(current), 'precondition_failed');
    planError([set('a', '"x"', '', { ifRevision: 4, ifEtag: etagOf(current) })], state(current), 'precondition_failed');
    assert.equal(
      plan([set('a', '"x"', '', { ifRevision: 5, ifEtag: etagOf(current) })], state(current)).versions.length,
      1,
    );
  });

  void test('preconditions apply to delete, lock and unlock as well', () => {
    const current = state(stored('a', { locked: true }));
    for (const kind of ['delete', 'lock', 'unlock'] as const) {
      planError([op(kind, 'a', '', { ifRevision: 99 })], current, 'precondition_failed');
    }
  });

  void test('conflicts are listed for ALL failing changes, in order, not only the first', () => {
    const current = state(
      stored('a'),
      stored('b', { revision: 6 }),
      stored('c'),
      stored('d', { label: 'prod', revision: 9 }),
    );
    const error = planError(
      [
        set('a', '"x"', '', { ifRevision: 1 }),
        set('ok', '"x"', '', { ifAbsent: true }),
        set('b', '"x"', '', { ifAbsent: true }),
        set('c', '"x"', '', { ifRevision: 5 }),
        op('delete', 'd', 'prod', { ifEtag: 'stale' }),
        set('missing', '"x"', '', { ifRevision: 3 }),
      ],
      current,
      'precondition_failed',
    );
    assert.deepEqual(conflictsOf(error), [
      { key: 'a', label: '', expected: 'revision 1', actualRevision: 5 },
      { key: 'b', label: '', expected: 'absent', actualRevision: 6 },
      { key: 'd', label: 'prod', expected: 'etag "stale"', actualRevision: 9 },
      { key: 'missing', label: '', expected: 'revision 3', actualRevision: null },
    ]);
    for (const key of ['"a"', '"b"', '"d" (label "prod")', '"missing"'])
      assert.ok(error.message.includes(key), error.message);
    assert.ok(!error.message.includes('"c"'));
  });

  void test('a failed precondition wins over a locked entry, and all conflicts are still listed', () => {
    // Preconditions are checked for every change before anything is planned: a client told
    // "entry_locked" would not learn that its view of the namespace is stale.
    const current = state(stored('a'), stored('locked', { locked: true }), stored('c'));
    const error = planError(
      [set('a', '"x"', '', { ifRevision: 1 }), set('locked'), set('c', '"x"', '', { ifRevision: 2 })],
      current,
      'precondition_failed',
    );
    assert.deepEqual(
      conflictsOf(error).map((c) => c.key),
      ['a', 'c'],
    );
  });

  void test('a failed precondition wins over a missing entry later in the commit', () => {
    const current = state(stored('a'));
    const error = planError(
      [set('a', '"x"', '', { ifRevision: 1 }), op('delete', 'missing'), set('a2', '"x"', '', { ifRevision: 2 })],
      current,
      'precondition_failed',
    );
    assert.deepEqual(
      conflictsOf(error).map((c) => c.key),
      ['a', 'a2'],
    );
  });

  void test('a failed precondition throws: no plan is returned even when other changes are valid', () => {
    const current = state(stored('a'));
    assert.throws(
      () => plan([set('new1'), set('a', '"x"', '', { ifRevision: 4 }), set('new2')], current),
      (error: unknown) =>
        error instanceof HeraldError && error.code === 'precondition_failed' && conflictsOf(error).length === 1,
    );
  });
});

void describe('checkDistinctChanges', () => {
  void test('accepts distinct addresses, including one key under several labels', () => {
    assert.doesNotThrow(() => checkDistinctChanges([]));
    assert.doesNotThrow(() =>
      checkDistinctChanges([set('a'), set('b'), set('a', '"x"', 'prod'), op('delete', 'a', 'dev')]),
    );
  });

  void test('refuses the same key and label twice, whatever the operations', () => {
    for (const pair of [
      [set('a'), set('a')],
      [set('a', '"1"', 'prod'), op('delete', 'a', 'prod')],
      [op('lock', 'a'), op('unlock', 'a')],
    ]) {
      assert.throws(
        () => checkDistinctChanges(pair),
        (error: unknown) => error instanceof HeraldError && error.code === 'duplicate_change',
      );
    }
  });

  void test('names the duplicated entry', () => {
    assert.throws(
      () => checkDistinctChanges([set('x'), set('db/host', '"1"', 'prod'), set('db/host', '"2"', 'prod')]),
      /"db\/host" \(label "prod"\)/u,
    );
  });
});
