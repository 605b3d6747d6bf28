/** Flag usage (FlagUsageStore). */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { ConformanceTest } from './helpers.js';

const hour = 3_600_000;
const h0 = 1_000 * hour;

export function flagUsageConformance(test: ConformanceTest): void {
  void describe('flag usage', () => {
    test('recordFlagEvaluations adds counts per namespace, flag, variant and hour; last evaluations only move forward', async (store) => {
      await store.recordFlagEvaluations([
        { namespace: 'a', flag: 'f', variant: 'on', hour: h0, count: 2, lastAt: h0 + 10 },
        { namespace: 'a', flag: 'f', variant: 'on', hour: h0, count: 3, lastAt: h0 + 5 },
        { namespace: 'a', flag: 'f', variant: 'off', hour: h0 + hour, count: 1, lastAt: h0 + hour + 1 },
        { namespace: 'b', flag: 'f', variant: 'on', hour: h0, count: 7, lastAt: h0 + 1 },
      ]);
      await store.recordFlagEvaluations([
        { namespace: 'a', flag: 'f', variant: 'on', hour: h0, count: 4, lastAt: h0 + 2 },
        { namespace: 'a', flag: 'g', variant: 'x', hour: h0, count: 1, lastAt: h0 + 3 },
      ]);
      await store.recordFlagEvaluations([]);
      const a = await store.readFlagEvaluations('a', 0);
      assert.deepEqual(a.counts, [
        { flag: 'f', variant: 'off', hour: h0 + hour, count: 1 },
        { flag: 'f', variant: 'on', hour: h0, count: 9 },
        { flag: 'g', variant: 'x', hour: h0, count: 1 },
      ]);
      assert.deepEqual(a.last, [
        { flag: 'f', lastAt: h0 + hour + 1 },
        { flag: 'g', lastAt: h0 + 3 },
      ]);
      assert.deepEqual((await store.readFlagEvaluations('a', h0 + hour)).counts, [
        { flag: 'f', variant: 'off', hour: h0 + hour, count: 1 },
      ]);
      assert.deepEqual((await store.readFlagEvaluations('b', 0)).counts, [
        { flag: 'f', variant: 'on', hour: h0, count: 7 },
      ]);
      assert.deepEqual(await store.readFlagEvaluations('none', 0), { counts: [], last: [] });
    });

    test('pruneFlagEvaluations drops old hours but keeps last evaluations; forgetFlagEvaluations drops deleted flags', async (store) => {
      await store.recordFlagEvaluations([
        { namespace: 'a', flag: 'f', variant: 'on', hour: h0, count: 1, lastAt: h0 },
        { namespace: 'a', flag: 'f', variant: 'on', hour: h0 + hour, count: 1, lastAt: h0 + hour },
        { namespace: 'a', flag: 'gone', variant: 'on', hour: h0 + hour, count: 1, lastAt: h0 + hour },
        { namespace: 'b', flag: 'gone', variant: 'on', hour: h0 + hour, count: 1, lastAt: h0 + hour },
      ]);
      assert.equal(await store.pruneFlagEvaluations(h0 + hour), 1);
      const a = await store.readFlagEvaluations('a', 0);
      assert.deepEqual(
        a.counts.map((c) => [c.flag, c.hour]),
        [
          ['f', h0 + hour],
          ['gone', h0 + hour],
        ],
      );
      assert.equal(a.last.length, 2);
      assert.equal(await store.forgetFlagEvaluations('a', ['f']), 1);
      const after = await store.readFlagEvaluations('a', 0);
      assert.deepEqual(
        after.last.map((l) => l.flag),
        ['f'],
      );
      assert.deepEqual(
        after.counts.map((c) => c.flag),
        ['f'],
      );
      assert.equal((await store.readFlagEvaluations('b', 0)).last.length, 1, 'other namespaces keep theirs');
    });
  });
}
