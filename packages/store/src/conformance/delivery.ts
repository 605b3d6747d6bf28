/** Delivery (DeliveryStore): releases, rollouts and instance reports. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { relayReceiptsKept, type InstanceReport, type RolloutRecord } from '../types.js';
import { allAudit, audit, commit, createNs, rejectsWith, set, type ConformanceTest } from './helpers.js';

export function deliveryConformance(test: ConformanceTest): void {
  void describe('releases', () => {
    test('createRelease numbers releases per namespace, at the namespace revision unless told', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      await commit(store, 'app', [set('a', '1')]); // 1
      await commit(store, 'other', [set('a', '1')]); // 2
      const before = Date.now();
      const first = await store.createRelease(
        { namespace: 'app', kind: 'manual', author: 'alice', note: 'first' },
        audit('release.create', 'namespace:app'),
      );
      const after = Date.now();
      assert.deepEqual(
        { ...first, createdAt: 0 },
        { namespace: 'app', seq: 1, revision: 1, kind: 'manual', author: 'alice', note: 'first', createdAt: 0 },
      );
      assert.ok(first.createdAt >= before && first.createdAt <= after);
      const pinned = await store.createRelease(
        { namespace: 'app', revision: 2, kind: 'rollback', author: 'bob', note: '' },
        audit('release.create'),
      );
      assert.equal(pinned.seq, 2);
      assert.equal(pinned.revision, 2);
      const elsewhere = await store.createRelease(
        { namespace: 'other', kind: 'commit', author: 'c', note: '' },
        audit('release.create'),
      );
      assert.equal(elsewhere.seq, 1, 'seq counts per namespace');
      assert.equal(elsewhere.revision, 2);
      assert.deepEqual(await store.getRelease('app'), pinned, 'without seq: the newest');
      assert.deepEqual(await store.getRelease('app', 1), first);
      assert.equal(await store.getRelease('app', 3), undefined);
      assert.equal(await store.getRelease('missing'), undefined);
      const records = await allAudit(store);
      assert.deepEqual(
        records.filter((r) => r.action === 'release.create').map((r) => r.details),
        [
          { seq: 1, revision: 1 },
          { seq: 2, revision: 2 },
          { seq: 1, revision: 2 },
        ],
      );
    });

    test('createRelease refuses a missing namespace and revisions that do not exist (yet)', async (store) => {
      await createNs(store, 'app');
      await commit(store, 'app', [set('a', '1')]);
      const input = { kind: 'manual' as const, author: 'a', note: '' };
      await rejectsWith(
        store.createRelease({ ...input, namespace: 'ghost' }, audit('release.create')),
        'namespace_not_found',
      );
      await rejectsWith(
        store.createRelease({ ...input, namespace: 'app', revision: 2 }, audit('release.create')),
        'revision_not_found',
      );
      await rejectsWith(
        store.createRelease({ ...input, namespace: 'app', revision: -1 }, audit('release.create')),
        'invalid_revision',
      );
      await commit(store, 'app', [set('a', '2')]);
      await store.compact(2, audit('store.compact'));
      await rejectsWith(
        store.createRelease({ ...input, namespace: 'app', revision: 1 }, audit('release.create')),
        'revision_compacted',
      );
      assert.equal(await store.getRelease('app'), undefined, 'nothing was released');
    });

    test('listReleases lists newest first, paged by beforeSeq; concurrent releases get distinct seqs', async (store) => {
      await createNs(store, 'app');
      const made = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.createRelease(
            { namespace: 'app', kind: 'manual', author: 'a', note: `n${i}` },
            audit('release.create'),
          ),
        ),
      );
      assert.deepEqual(
        made.map((r) => r.seq).sort((x, y) => x - y),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      assert.deepEqual(
        (await store.listReleases({ namespace: 'app', limit: 3 })).map((r) => r.seq),
        [8, 7, 6],
      );
      assert.deepEqual(
        (await store.listReleases({ namespace: 'app', beforeSeq: 6, limit: 3 })).map((r) => r.seq),
        [5, 4, 3],
      );
      assert.deepEqual(
        (await store.listReleases({ namespace: 'app', beforeSeq: 2, limit: 3 })).map((r) => r.seq),
        [1],
      );
      const listed = await store.listReleases({ namespace: 'app', limit: 100 });
      assert.deepEqual(
        listed,
        [...made].sort((x, y) => y.seq - x.seq),
      );
      assert.deepEqual(await store.listReleases({ namespace: 'missing', limit: 3 }), []);
    });
  });

  void describe('rollouts', () => {
    const rollout = (
      id: string,
      namespace: string,
      active: boolean,
      state: Record<string, unknown> = { phase: 'wave', wave: 0 },
    ): Omit<RolloutRecord, 'version' | 'updatedAt'> => ({
      id,
      namespace,
      active,
      state,
    });

    test('saveRollout creates at version 1 and updates only from the version read', async (store) => {
      await createNs(store, 'app');
      const before = Date.now();
      const created = await store.saveRollout(
        rollout('r1', 'app', true, { waves: [{ percent: 1 }], nested: { ok: true } }),
        0,
        audit('rollout.start'),
      );
      assert.equal(created.version, 1);
      assert.ok(created.updatedAt >= before && created.updatedAt <= Date.now());
      assert.deepEqual(await store.getRollout('r1'), created);
      const stale = await rejectsWith(
        store.saveRollout(rollout('r1', 'app', true, { overwritten: true }), 0, undefined),
        'precondition_failed',
      );
      assert.ok(stale);
      await rejectsWith(
        store.saveRollout(rollout('r1', 'app', true, { overwritten: true }), 2, undefined),
        'precondition_failed',
      );
      await rejectsWith(store.saveRollout(rollout('r-new', 'app', false), 1, undefined), 'precondition_failed');
      assert.deepEqual(await store.getRollout('r1'), created, 'a refused save changes nothing');
      const updated = await store.saveRollout(rollout('r1', 'app', true, { phase: 'bake' }), 1, undefined);
      assert.equal(updated.version, 2);
      assert.deepEqual(updated.state, { phase: 'bake' });
      assert.deepEqual(await store.getRollout('r1'), updated);
      assert.equal(await store.getRollout('nope'), undefined);
    });

    test('saveRollout appends its audit record only when given one', async (store) => {
      await createNs(store, 'app');
      const count = (): Promise<number> => allAudit(store).then((r) => r.length);
      const start = await count();
      await store.saveRollout(rollout('r1', 'app', true), 0, audit('rollout.start', 'rollout:r1'));
      assert.equal(await count(), start + 1);
      await store.saveRollout(rollout('r1', 'app', true), 1, undefined);
      assert.equal(await count(), start + 1);
      await rejectsWith(
        store.saveRollout(rollout('r1', 'app', true), 1, audit('rollout.pause')),
        'precondition_failed',
      );
      assert.equal(await count(), start + 1, 'a refused save records nothing');
    });

    test('at most one active rollout per namespace: rollout_active names the other one', async (store) => {
      await createNs(store, 'app');
      await createNs(store, 'other');
      await store.saveRollout(rollout('r1', 'app', true), 0, undefined);
      const error = await rejectsWith(store.saveRollout(rollout('r2', 'app', true), 0, undefined), 'rollout_active');
      assert.equal(error.extensions.rolloutId, 'r1');
      assert.equal(await store.getRollout('r2'), undefined);
      await store.saveRollout(rollout('r3', 'other', true), 0, undefined);
      await store.saveRollout(rollout('r2', 'app', false), 0, undefined);
      await store.saveRollout(rollout('r1', 'app', false, { phase: 'done' }), 1, undefined);
      const r2 = await store.saveRollout(rollout('r2', 'app', true), 1, undefined);
      assert.equal(r2.version, 2);
      assert.deepEqual(
        (await store.listActiveRollouts('app')).map((r) => r.id),
        ['r2'],
      );
      assert.deepEqual(
        (await store.listActiveRollouts()).map((r) => r.id),
        ['r2', 'r3'],
        'all namespaces, in namespace order',
      );
      assert.deepEqual(await store.listActiveRollouts('missing'), []);
    });

    test('listRollouts lists a namespace’s rollouts, most recently saved first', async (store) => {
      await createNs(store, 'app');
      const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3));
      await store.saveRollout(rollout('a', 'app', false), 0, undefined);
      await pause();
      await store.saveRollout(rollout('b', 'app', false), 0, undefined);
      await pause();
      await store.saveRollout(rollout('c', 'app', false), 0, undefined);
      await pause();
      await store.saveRollout(rollout('a', 'app', false, { again: true }), 1, undefined);
      assert.deepEqual(
        (await store.listRollouts('app', 10)).map((r) => r.id),
        ['a', 'c', 'b'],
      );
      assert.deepEqual(
        (await store.listRollouts('app', 2)).map((r) => r.id),
        ['a', 'c'],
      );
      assert.deepEqual(await store.listRollouts('missing', 10), []);
    });

    test('concurrent saves from the same version: exactly one wins', async (store) => {
      await createNs(store, 'app');
      await store.saveRollout(rollout('r1', 'app', true), 0, undefined);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.saveRollout(rollout('r1', 'app', true, { writer: i }), 1, undefined)),
      );
      const winners = outcomes.filter((o): o is PromiseFulfilledResult<RolloutRecord> => o.status === 'fulfilled');
      assert.equal(winners.length, 1);
      for (const o of outcomes)
        if (o.status === 'rejected') assert.equal((o.reason as { code?: string }).code, 'precondition_failed');
      assert.deepEqual(await store.getRollout('r1'), winners[0]?.value);
      const starts = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => store.saveRollout(rollout(`new${i}`, 'app', true), 0, undefined)),
      );
      assert.ok(
        starts.every((o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'rollout_active'),
      );
    });
  });

  void describe('instances', () => {
    const report = (
      instanceId: string,
      at: number,
      views: InstanceReport['views'],
      extra: Partial<InstanceReport> = {},
    ): InstanceReport => ({
      instanceId,
      reporter: 'tok-1',
      attributes: { region: 'eu', zone: 'eu-1' },
      health: 'ok',
      healthDetail: '',
      views,
      at,
      ...extra,
    });
    const view = (
      namespace: string,
      labels: string[],
      seq: number,
      status: 'applied' | 'rejected' = 'applied',
      reason = '',
    ): InstanceReport['views'][number] => ({
      namespace,
      labels,
      seq,
      digest: `d${seq}`,
      status,
      reason,
    });

    test('recordReports keeps the latest report of each instance; listInstances filters by namespace and last seen', async (store) => {
      await store.recordReports([]);
      await store.recordReports([
        report('i-2', 1000, [view('app', ['default', 'prod'], 3), view('other', [], 1)]),
        report('i-1', 1000, [view('app', ['default'], 2)]),
        report('i-3', 500, [view('app', ['default'], 1)]),
        report('i-4', 1000, [view('other', [], 1)]),
      ]);
      await store.recordReports([
        report('i-1', 2000, [view('app', ['default'], 4, 'rejected', 'digest mismatch')], {
          health: 'degraded',
          healthDetail: 'slow',
          attributes: { region: 'us' },
        }),
        // An older report arriving late changes nothing.
        report('i-2', 900, [view('app', ['default', 'prod'], 1)], { health: 'failing' }),
      ]);
      const instances = await store.listInstances({ namespace: 'app', seenSince: 1000 });
      assert.deepEqual(instances, [
        {
          instanceId: 'i-1',
          attributes: { region: 'us' },
          health: 'degraded',
          healthDetail: 'slow',
          lastSeen: 2000,
          hops: [],
          views: [
            {
              namespace: 'app',
              labels: ['default'],
              seq: 4,
              digest: 'd4',
              status: 'rejected',
              reason: 'digest mismatch',
              updatedAt: 2000,
            },
          ],
        },
        {
          instanceId: 'i-2',
          attributes: { region: 'eu', zone: 'eu-1' },
          health: 'ok',
          healthDetail: '',
          lastSeen: 1000,
          hops: [],
          views: [
            {
              namespace: 'app',
              labels: ['default', 'prod'],
              seq: 3,
              digest: 'd3',
              status: 'applied',
              reason: '',
              updatedAt: 1000,
            },
          ],
        },
      ]);
      assert.deepEqual(
        (await store.listInstances({ namespace: 'app', seenSince: 0 })).map((i) => i.instanceId),
        ['i-1', 'i-2', 'i-3'],
      );
      assert.deepEqual(
        (await store.listInstances({ namespace: 'other', seenSince: 0 })).map((i) => i.instanceId),
        ['i-2', 'i-4'],
      );
      assert.deepEqual(await store.listInstances({ namespace: 'app', seenSince: 3000 }), []);
    });

    test('listInstances pages by instance id; summarizeInstances counts what listInstances would list', async (store) => {
      await store.recordReports([
        report('b', 1000, [view('app', ['default'], 2), view('app', ['default', 'prod'], 2, 'rejected', 'bad')]),
        report('a', 1000, [view('app', ['default'], 1)], { health: 'failing' }),
        report('c', 1000, [view('app', ['default'], 2)], { health: 'degraded' }),
        report('d', 400, [view('app', ['default'], 2)]),
        report('e', 1000, [view('other', [], 9)]),
      ]);
      const ids = async (after?: string, limit?: number) =>
        (
          await store.listInstances({
            namespace: 'app',
            seenSince: 500,
            ...(after === undefined ? {} : { after }),
            ...(limit === undefined ? {} : { limit }),
          })
        ).map((i) => `${i.instanceId}:${i.views.length}`);
      assert.deepEqual(await ids(undefined, 2), ['a:1', 'b:2'], 'a page holds whole instances, every view of each');
      assert.deepEqual(await ids('b', 2), ['c:1']);
      assert.deepEqual(await ids('c', 2), []);
      assert.deepEqual(await ids('a'), ['b:2', 'c:1']);
      assert.deepEqual(await store.summarizeInstances({ namespace: 'app', seenSince: 500 }), {
        instances: 3,
        health: { ok: 1, degraded: 1, failing: 1 },
        releases: [
          { seq: 2, applied: 2, rejected: 1 },
          { seq: 1, applied: 1, rejected: 0 },
        ],
      });
      assert.deepEqual(await store.summarizeInstances({ namespace: 'none', seenSince: 0 }), {
        instances: 0,
        health: { ok: 0, degraded: 0, failing: 0 },
        releases: [],
      });
    });

    test('a report changes only the records of the namespaces it has views of', async (store) => {
      await store.recordReports([
        report('web-17', 1000, [view('a', [], 1)], { attributes: { region: 'eu' } }),
        report('web-17', 1000, [view('b', [], 5)], { reporter: 'tok-2', attributes: { region: 'us' } }),
      ]);
      // The reporter of b says failing with other attributes, and a report with no views says anything at all.
      await store.recordReports([
        report('web-17', 2000, [view('b', [], 6)], {
          reporter: 'tok-2',
          health: 'failing',
          attributes: { region: 'hijacked' },
        }),
        report('web-17', 2000, [], { health: 'failing', attributes: { region: 'nowhere' } }),
      ]);
      const [a] = await store.listInstances({ namespace: 'a', seenSince: 0 });
      assert.equal(a?.health, 'ok');
      assert.deepEqual(a?.attributes, { region: 'eu' });
      assert.equal(a?.lastSeen, 1000);
      const [b] = await store.listInstances({ namespace: 'b', seenSince: 0 });
      assert.equal(b?.health, 'failing');
      assert.deepEqual(b?.attributes, { region: 'hijacked' });
      assert.deepEqual(
        b?.views.map((v) => v.seq),
        [6],
      );
      assert.deepEqual(await store.instanceOwners('web-17'), [
        { namespace: 'a', reporter: 'tok-1' },
        { namespace: 'b', reporter: 'tok-2' },
      ]);
      assert.deepEqual(await store.instanceOwners('nobody'), []);
    });

    test("another reporter's report of an owned instance changes nothing of its record", async (store) => {
      await store.recordReports([report('web-1', 1000, [view('a', ['default'], 1)])]);
      await store.recordReports([
        report('web-1', 2000, [view('a', ['default'], 2, 'rejected', 'bad'), view('a', ['prod'], 2)], {
          reporter: 'tok-2',
          health: 'failing',
          attributes: { region: 'hijacked' },
        }),
        // In one batch too: the first reporter of a new instance owns it, a later one changes nothing.
        report('web-2', 1000, [view('a', [], 1)]),
        report('web-2', 1500, [view('a', [], 9)], { reporter: 'tok-2', health: 'failing' }),
      ]);
      const records = await store.listInstances({ namespace: 'a', seenSince: 0 });
      assert.deepEqual(
        records.map((r) => [r.instanceId, r.health, r.lastSeen, r.attributes, r.views.map((v) => [v.labels, v.seq])]),
        [
          ['web-1', 'ok', 1000, { region: 'eu', zone: 'eu-1' }, [[['default'], 1]]],
          ['web-2', 'ok', 1000, { region: 'eu', zone: 'eu-1' }, [[[], 1]]],
        ],
      );
      // Its owner goes on reporting.
      await store.recordReports([report('web-1', 3000, [view('a', ['default'], 3)], { health: 'degraded' })]);
      const [web1] = await store.listInstances({ namespace: 'a', seenSince: 2500 });
      assert.deepEqual([web1?.health, web1?.views.map((v) => v.seq)], ['degraded', [3]]);
    });

    test('countInstances counts records per namespace; pruneInstances deletes those not seen since', async (store) => {
      await store.recordReports([
        report('i-1', 1000, [view('a', [], 1), view('b', [], 1)]),
        report('i-2', 2000, [view('a', [], 1)]),
        report('i-3', 3000, [view('a', ['x'], 1), view('a', ['y'], 1)]),
      ]);
      assert.deepEqual([await store.countInstances('a'), await store.countInstances('b')], [3, 1]);
      assert.equal(await store.pruneInstances(2000), 2);
      assert.deepEqual([await store.countInstances('a'), await store.countInstances('b')], [2, 0]);
      assert.deepEqual(
        (await store.listInstances({ namespace: 'a', seenSince: 0 })).map((i) => i.instanceId),
        ['i-2', 'i-3'],
      );
      assert.deepEqual(await store.instanceOwners('i-1'), []);
      // A pruned instance is new again: any reporter may claim it.
      await store.recordReports([report('i-1', 4000, [view('a', [], 2)], { reporter: 'tok-2' })]);
      assert.deepEqual(await store.instanceOwners('i-1'), [{ namespace: 'a', reporter: 'tok-2' }]);
      assert.equal(await store.pruneInstances(5000), 3);
      assert.equal(await store.countInstances('a'), 0);
      assert.deepEqual(await store.listInstances({ namespace: 'a', seenSince: 0 }), []);
    });

    test("removeInstances deletes the reporter's records of a namespace, and nobody else's", async (store) => {
      await store.recordReports([
        report('i-1', 1000, [view('a', [], 1), view('a', ['x'], 1), view('b', [], 1)]),
        report('i-2', 1000, [view('a', [], 1)]),
        report('i-3', 1000, [view('a', [], 1)], { reporter: 'tok-2' }),
      ]);
      // Another reporter's leaving removes nothing.
      assert.equal(await store.removeInstances('a', ['i-1', 'i-2'], 'tok-2'), 0);
      assert.equal(await store.countInstances('a'), 3);
      assert.equal(await store.removeInstances('a', ['i-1', 'i-3', 'nobody'], 'tok-1'), 1);
      assert.deepEqual(
        (await store.listInstances({ namespace: 'a', seenSince: 0 })).map((i) => i.instanceId),
        ['i-2', 'i-3'],
      );
      // Its record of another namespace stays; its id is free again in the one it left.
      assert.deepEqual(await store.instanceOwners('i-1'), [{ namespace: 'b', reporter: 'tok-1' }]);
      assert.equal(await store.removeInstances('a', [], 'tok-1'), 0);
      await store.recordReports([report('i-1', 2000, [view('a', [], 2)], { reporter: 'tok-2' })]);
      const records = await store.listInstances({ namespace: 'a', seenSince: 0 });
      assert.deepEqual(
        records.map((r) => [r.instanceId, r.views.map((v) => [v.labels, v.seq])]),
        [
          ['i-1', [[[], 2]]],
          ['i-2', [[[], 1]]],
          ['i-3', [[[], 1]]],
        ],
      );
    });

    test('a report keeps when each view was applied and the relays it came through (issue 16)', async (store) => {
      await store.recordReports([
        report('i-1', 1000, [{ ...view('app', [''], 1), appliedAt: 990 }], { hops: ['relay-b', 'relay-a'] }),
        report('i-2', 1000, [view('app', [''], 1)]),
      ]);
      const [before, second] = await store.listInstances({ namespace: 'app', seenSince: 0 });
      assert.deepEqual(before?.hops, ['relay-b', 'relay-a']);
      assert.equal(before?.views[0]?.appliedAt, 990);
      assert.deepEqual(second?.hops, []);
      assert.equal(second?.views[0]?.appliedAt, undefined, 'an older client says nothing of when');
      // The next release: its own time; reported directly now.
      await store.recordReports([report('i-1', 2000, [{ ...view('app', [''], 2), appliedAt: 1990 }])]);
      const [first] = await store.listInstances({ namespace: 'app', seenSince: 0 });
      assert.deepEqual(first?.hops, []);
      assert.equal(first?.views[0]?.seq, 2);
      assert.equal(first?.views[0]?.appliedAt, 1990);
    });

    test('relay receipts keep the earliest times per relay and release, and only the newest releases', async (store) => {
      await store.recordRelayReceipts([]);
      await store.recordRelayReceipts([
        { namespace: 'app', seq: 1, relay: 'relay-a', path: [], receivedAt: 100, servedAt: null },
        { namespace: 'app', seq: 1, relay: 'relay-b', path: ['relay-a'], receivedAt: 120, servedAt: 130 },
        { namespace: 'other', seq: 1, relay: 'relay-a', path: [], receivedAt: 100, servedAt: 100 },
      ]);
      // Again after a restart: later times change nothing, a first servedAt is kept.
      await store.recordRelayReceipts([
        { namespace: 'app', seq: 1, relay: 'relay-a', path: [], receivedAt: 500, servedAt: 110 },
        { namespace: 'app', seq: 1, relay: 'relay-b', path: ['relay-a'], receivedAt: 520, servedAt: null },
      ]);
      assert.deepEqual(await store.listRelayReceipts('app', 1), [
        { namespace: 'app', seq: 1, relay: 'relay-a', path: [], receivedAt: 100, servedAt: 110 },
        { namespace: 'app', seq: 1, relay: 'relay-b', path: ['relay-a'], receivedAt: 120, servedAt: 130 },
      ]);
      assert.deepEqual(await store.listRelayReceipts('app', 2), []);
      await store.recordRelayReceipts([
        { namespace: 'app', seq: 1 + relayReceiptsKept, relay: 'relay-a', path: [], receivedAt: 900, servedAt: 900 },
      ]);
      assert.deepEqual(
        (await store.listRelayReceipts('app', 1)).map((r) => r.relay),
        ['relay-b'],
        "relay-a's receipt of a release that old is gone; relay-b's stays",
      );
      assert.equal((await store.listRelayReceipts('other', 1)).length, 1);
    });
  });
}
