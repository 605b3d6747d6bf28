// The Azure App Configuration API on the PostgreSQL store, through the official SDK: access keys,
// key-values, listings, point-in-time reads and snapshots work there as on SQLite.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppConfigurationClient } from '@azure/app-configuration';
import { PostgresStore } from '@herald/store';
import { createTestDatabase, startTestServer, type TestDatabase, type TestServer } from '@herald/testkit';
import { all, createStore, insecure, sleep, statusOf } from './azure-helpers.js';

let db: TestDatabase;
let ts: TestServer;
let client: AppConfigurationClient;

before(async () => {
  db = await createTestDatabase();
  ts = await startTestServer({ store: await PostgresStore.open({ connectionString: db.url }) });
  client = new AppConfigurationClient((await createStore(ts, 'pg')).connectionString, insecure);
});

after(async () => {
  await ts.close();
  await db.drop();
});

void describe('Azure SDK 1.13 on PostgreSQL', () => {
  void it('writes, lists, reads the past, locks and snapshots', async () => {
    await client.setConfigurationSetting({ key: 'a/1', value: 'one' });
    await sleep(20);
    const between = new Date();
    await sleep(20);
    for (let i = 0; i < 110; i += 1)
      await client.setConfigurationSetting({ key: `b/${String(i).padStart(3, '0')}`, label: 'prod', value: String(i) });
    await client.setConfigurationSetting({ key: 'a/1', value: 'two' });

    assert.equal((await all(client.listConfigurationSettings({ keyFilter: 'b/*', labelFilter: 'prod' }))).length, 110);
    assert.equal((await client.getConfigurationSetting({ key: 'a/1' }, { acceptDateTime: between })).value, 'one');
    assert.deepEqual(
      (await all(client.listRevisions({ keyFilter: 'a/1' }))).map((r) => r.value),
      ['two', 'one'],
    );

    await client.setReadOnly({ key: 'a/1' }, true);
    assert.equal(await statusOf(client.setConfigurationSetting({ key: 'a/1', value: 'three' })), 409);

    const snapshot = await client.beginCreateSnapshotAndWait({
      name: 'pg-snap',
      filters: [{ keyFilter: 'b/00*', labelFilter: 'prod' }],
    });
    assert.equal(snapshot.itemCount, 10);
    await client.setConfigurationSetting({ key: 'b/000', label: 'prod', value: 'changed' });
    const items = await all(client.listConfigurationSettingsForSnapshot('pg-snap'));
    assert.equal(items[0]?.value, '0');
    assert.equal((await client.archiveSnapshot('pg-snap')).status, 'archived');
    assert.equal(
      await statusOf(client.beginCreateSnapshotAndWait({ name: 'pg-snap', filters: [{ keyFilter: '*' }] })),
      409,
    );
  });
});
