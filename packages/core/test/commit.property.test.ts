// Properties of commit planning: a generated namespace state and a generated commit, checked
// against a small model of what the preconditions, locks and tombstones mean.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  addressId,
  checkDistinctChanges,
  entryEtag,
  HeraldError,
  planCommit,
  type Change,
  type EntryVersion,
} from '../src/index.js';
import { CaseCounter, propertyRuns } from './property-runs.js';

const numRuns = propertyRuns();
const counter = new CaseCounter('core-commit-properties');
after(() => counter.print());

const keys = ['a', 'b', 'c', 'd'];
const labels = ['', 'prod'];
const namespace = 'ns';
const etagOf = (v: EntryVersion): string => entryEtag(v, v.revision);

const current = fc
  .uniqueArray(
    fc.record({
      key: fc.constantFrom(...keys),
      label: fc.constantFrom(...labels),
      revision: fc.integer({ min: 1, max: 20 }),
      locked: fc.boolean(),
      deleted: fc.boolean(),
    }),
    { selector: (v) => addressId(v), maxLength: 8 },
  )
  .map(
    (list) =>
      new Map(
        list.map((v): [string, EntryVersion] => [
          addressId(v),
          {
            ...v,
            namespace,
            text: `"${v.key}${v.revision}"`,
            contentType: 'application/json',
            tags: {},
            secret: false,
            author: 'old',
            createdAt: 1,
          },
        ]),
      ),
  );

const precondition = fc.oneof(
  fc.constant({}),
  fc.constant({ ifAbsent: true }),
  fc.integer({ min: 0, max: 20 }).map((ifRevision) => ({ ifRevision })),
  fc
    .integer({ min: 1, max: 20 })
    .map((revision) => ({ ifEtag: entryEtag({ namespace, key: 'a', label: '' }, revision) })),
);

const change: fc.Arbitrary<Change> = fc
  .record({
    op: fc.constantFrom('set', 'delete', 'lock', 'unlock'),
    key: fc.constantFrom(...keys),
    label: fc.constantFrom(...labels),
    pre: precondition,
  })
  .map(({ op, key, label, pre }): Change =>
    op === 'set'
      ? { op, key, label, text: '"new"', contentType: 'application/json', tags: {}, secret: false, ...pre }
      : { op, key, label, ...pre },
  );

const changes = fc.array(change, { minLength: 1, maxLength: 6 });

/** The model: which changes' preconditions fail against the live entries. */
function conflictsOf(list: readonly Change[], state: ReadonlyMap<string, EntryVersion>): number {
  let count = 0;
  for (const c of list) {
    const existing = state.get(addressId(c));
    const live = existing !== undefined && !existing.deleted ? existing : undefined;
    const actual = live ? live.revision : null;
    const failed =
      (c.ifAbsent === true && live !== undefined) ||
      (c.ifRevision !== undefined && actual !== (c.ifRevision === 0 ? null : c.ifRevision)) ||
      (c.ifEtag !== undefined && (live === undefined || etagOf(live) !== c.ifEtag));
    if (failed) count += 1;
  }
  return count;
}

const liveCount = (state: ReadonlyMap<string, EntryVersion>): number =>
  [...state.values()].filter((v) => !v.deleted).length;

void describe('commit planning', () => {
  void test('a commit is all or nothing: it plans one version per change or throws a catalogue error', () => {
    fc.assert(
      fc.property(current, changes, fc.integer({ min: 21, max: 1000 }), (state, list, revision) => {
        counter.add();
        const distinct = new Set(list.map((c) => addressId(c))).size === list.length;
        if (!distinct) {
          assert.throws(
            () => checkDistinctChanges(list),
            (e: unknown) => e instanceof HeraldError && e.code === 'duplicate_change',
          );
          return;
        }
        checkDistinctChanges(list);
        const expectedConflicts = conflictsOf(list, state);
        let planned;
        try {
          planned = planCommit({ namespace, changes: list, author: 'me', message: '' }, state, etagOf, revision, 99);
        } catch (error) {
          assert.ok(error instanceof HeraldError, String(error));
          if (expectedConflicts > 0) {
            assert.equal(error.code, 'precondition_failed');
            assert.equal((error.extensions.conflicts as unknown[]).length, expectedConflicts);
          } else {
            assert.ok(['entry_locked', 'entry_not_found'].includes(error.code), error.code);
          }
          return;
        }
        assert.equal(expectedConflicts, 0, 'a commit with a failed precondition was planned');
        assert.equal(planned.versions.length, list.length);
        const after = new Map(state);
        for (const [i, v] of planned.versions.entries()) {
          const c = list[i] as Change;
          assert.equal(v.revision, revision);
          assert.equal(v.createdAt, 99);
          assert.equal(addressId(v), addressId(c));
          assert.equal(v.deleted, c.op === 'delete');
          if (c.op === 'lock') assert.equal(v.locked, true);
          if (c.op === 'unlock' || c.op === 'set') assert.equal(v.locked, false);
          const before = state.get(addressId(c));
          // A locked live entry only takes lock and unlock; anything else must have thrown.
          if (before && !before.deleted && before.locked) assert.ok(c.op === 'lock' || c.op === 'unlock');
          if (c.op !== 'set') assert.ok(before && !before.deleted, `${c.op} of a missing entry was planned`);
          after.set(addressId(v), v);
        }
        assert.equal(planned.liveDelta, liveCount(after) - liveCount(state));
      }),
      { numRuns },
    );
  });

  void test('an unconditional set of new entries always plans, and adds one live entry each', () => {
    fc.assert(
      fc.property(current, (state) => {
        counter.add();
        const absent = keys
          .flatMap((key) => labels.map((label) => ({ key, label })))
          .filter((a) => {
            const v = state.get(addressId(a));
            return v === undefined || v.deleted;
          });
        const list: Change[] = absent.map((a) => ({
          op: 'set',
          ...a,
          text: '1',
          contentType: 'application/json',
          tags: {},
          secret: false,
          ifAbsent: true,
        }));
        const planned = planCommit({ namespace, changes: list, author: 'me', message: '' }, state, etagOf, 100, 1);
        assert.equal(planned.liveDelta, absent.length);
      }),
      { numRuns },
    );
  });
});
