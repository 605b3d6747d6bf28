/** Change requests and schedules (ControlStore). */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { allAudit, audit, rejectsWith, type ConformanceTest } from './helpers.js';

export function controlRecordConformance(test: ConformanceTest): void {
  void describe('change-control records', () => {
    test('saveControlRecord creates at version 1, updates over the version read, audited in the same step', async (store) => {
      const first = await store.saveControlRecord(
        { kind: 'change_request', id: 'CR-1', namespace: 'app', state: 'open', dueAt: null, body: { ops: [1] } },
        0,
        audit('cr.open', 'namespace:app'),
      );
      assert.equal(first.version, 1);
      assert.ok(Math.abs(first.createdAt - Date.now()) < 60_000);
      const second = await store.saveControlRecord(
        { ...first, state: 'applied', body: { ops: [1], approvals: ['b'] } },
        1,
        audit('cr.apply', 'namespace:app'),
      );
      assert.equal(second.version, 2);
      assert.equal(second.createdAt, first.createdAt, 'createdAt is kept from the first save');
      assert.deepEqual(await store.getControlRecord('change_request', 'CR-1'), second);
      await rejectsWith(
        store.saveControlRecord({ ...first, state: 'rejected' }, 1, audit('cr.reject')),
        'precondition_failed',
      );
      // A record that does not exist is at version 0.
      await rejectsWith(store.saveControlRecord({ ...first, id: 'CR-2' }, 3, audit('cr.open')), 'precondition_failed');
      assert.equal(
        (await store.getControlRecord('change_request', 'CR-1'))?.state,
        'applied',
        'a refused save changes nothing',
      );
      assert.equal(await store.getControlRecord('schedule', 'CR-1'), undefined, 'kinds are separate');
      assert.deepEqual(
        (await allAudit(store)).map((r) => r.action),
        ['cr.open', 'cr.apply'],
      );
    });

    test('concurrent saves over one version: exactly one wins', async (store) => {
      const record = { kind: 'schedule' as const, id: 'S-1', namespace: 'app', state: 'pending', dueAt: 5, body: {} };
      await store.saveControlRecord(record, 0, audit('schedule.create'));
      const outcomes = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          store.saveControlRecord({ ...record, state: `done-${i}` }, 1, audit('schedule.run')),
        ),
      );
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
      assert.equal((await store.getControlRecord('schedule', 'S-1'))?.version, 2);
    });

    test('listControlRecords filters by kind, namespace, states and due time, newest first', async (store) => {
      const save = (
        kind: 'schedule' | 'change_request',
        id: string,
        namespace: string,
        state: string,
        dueAt: number | null,
      ) => store.saveControlRecord({ kind, id, namespace, state, dueAt, body: { id } }, 0, audit('x'));
      await save('schedule', 'S-1', 'a', 'pending', 100);
      await save('schedule', 'S-2', 'a', 'pending', 300);
      await save('schedule', 'S-3', 'b', 'cancelled', 50);
      await save('change_request', 'CR-1', 'a', 'open', null);
      const ids = async (query: Parameters<typeof store.listControlRecords>[0]) =>
        (await store.listControlRecords(query)).map((r) => r.id).sort();
      assert.deepEqual(await ids({ kind: 'schedule', limit: 10 }), ['S-1', 'S-2', 'S-3']);
      assert.deepEqual(await ids({ kind: 'schedule', namespace: 'a', limit: 10 }), ['S-1', 'S-2']);
      assert.deepEqual(await ids({ kind: 'schedule', states: ['pending'], dueBefore: 200, limit: 10 }), ['S-1']);
      assert.deepEqual(await ids({ kind: 'schedule', states: [], limit: 10 }), []);
      assert.deepEqual(await ids({ kind: 'change_request', limit: 10 }), ['CR-1']);
      assert.equal((await store.listControlRecords({ kind: 'schedule', limit: 2 })).length, 2);
    });
  });
}
