// The paged reader of a namespace's live instances (delivery/live-instances.ts) on a real SQLite
// file: across page boundaries it returns every live record once, in id order, with each
// record's views, and leaves out what is not live or of another namespace; the event loop gets
// a turn between pages (a timer set before the read fires before it ends).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore, type InstanceReport } from '@herald/store';
import { tempDir } from '@herald/testkit';
import { liveInstances } from '../src/delivery/live-instances.js';

void test('every live instance once, in order, over several pages, with turns of the event loop between them', async () => {
  const dir = await tempDir('herald-live-instances-');
  const store = SqliteStore.open({ path: join(dir.path, 'herald.db') });
  try {
    const report = (instanceId: string, at: number, namespace = 'app'): InstanceReport => ({
      instanceId,
      reporter: 'tok-1',
      attributes: { region: 'eu' },
      health: 'ok',
      healthDetail: '',
      views: [
        { namespace, labels: [''], seq: 1, digest: 'd1', status: 'applied', reason: '' },
        { namespace, labels: ['', 'prod'], seq: 2, digest: 'd2', status: 'applied', reason: '' },
      ],
      at,
    });
    const live = 12_345;
    const reports: InstanceReport[] = [];
    for (let i = 0; i < live; i++) reports.push(report(`i-${String(i).padStart(6, '0')}`, 2000));
    for (let i = 0; i < 50; i++) reports.push(report(`old-${i}`, 500), report(`x-${i}`, 2000, 'other'));
    await store.recordReports(reports);

    let turns = 0;
    const ticker = setInterval(() => (turns += 1), 0);
    const records = await liveInstances(store, 'app', 1000);
    clearInterval(ticker);
    assert.equal(records.length, live);
    const ids = records.map((r) => r.instanceId);
    assert.deepEqual(ids, [...ids].sort(), 'in id order');
    assert.equal(new Set(ids).size, live, 'each once');
    assert.ok(
      records.every((r) => r.views.length === 2),
      'every record with both its views',
    );
    assert.ok(turns > 0, 'the event loop had a turn during the read');
  } finally {
    await store.close();
    await dir.cleanup();
  }
});
