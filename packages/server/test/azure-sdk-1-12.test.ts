// A part of the compatibility suite with the older @azure/app-configuration 1.12 (installed under
// the alias app-configuration-1-12). It puts keys in paths with encodeURI, so "/" arrives raw
// (/kv/a/b, /kv/.appconfig.featureflag/Beta) where 1.13 sends %2F: both must mean the same key.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppConfigurationClient as Client113 } from '@azure/app-configuration';
import {
  AppConfigurationClient,
  featureFlagContentType,
  featureFlagPrefix,
  parseFeatureFlag,
} from 'app-configuration-1-12';
import { startTestServer, type TestServer } from '@herald/testkit';
import { all, createStore, insecure, statusOf } from './azure-helpers.js';
import { storeState } from './helpers.js';

let ts: TestServer;
let client: AppConfigurationClient;
let newer: Client113;
let connectionString: string;

before(async () => {
  ts = await startTestServer();
  connectionString = (await createStore(ts, 'legacy')).connectionString;
  client = new AppConfigurationClient(connectionString, insecure);
  newer = new Client113(connectionString, insecure);
});

after(async () => {
  await ts.close();
});

void describe('Azure SDK 1.12', () => {
  void it('reads, writes and deletes keys with "/" in the path, the same key-values 1.13 sees', async () => {
    for (const [i, key] of ['a/b', 'deep/er/key', 'trailing/', 'space in/key', 'ünï/cødé'].entries()) {
      const id = i % 2 === 0 ? { key } : { key, label: 'prod/eu' };
      const set = await client.setConfigurationSetting({
        ...id,
        value: `v${i}`,
        contentType: 'text/plain',
        tags: { n: String(i) },
      });
      assert.equal(set.key, key);
      assert.equal((await client.getConfigurationSetting(id)).value, `v${i}`);
      assert.equal((await newer.getConfigurationSetting(id)).value, `v${i}`, 'the same key-value through 1.13');
      await newer.setConfigurationSetting({ ...id, value: `w${i}` });
      assert.equal((await client.getConfigurationSetting(id)).value, `w${i}`);
      await client.setReadOnly(id, true);
      assert.equal(await statusOf(client.setConfigurationSetting({ ...id, value: 'x' })), 409);
      await client.setReadOnly(id, false);
      assert.equal((await client.deleteConfigurationSetting(id)).statusCode, 200);
      assert.equal(await statusOf(newer.getConfigurationSetting(id)), 404);
    }
  });

  void it('lists with filters, conditional requests and revisions', async () => {
    await client.setConfigurationSetting({ key: 'list/a', value: '1' });
    await client.setConfigurationSetting({ key: 'list/b', label: 'prod', value: '2' });
    const first = await client.setConfigurationSetting({ key: 'list/c', value: '3' });
    assert.deepEqual(
      (await all(client.listConfigurationSettings({ keyFilter: 'list/*', labelFilter: '\0' }))).map((s) => s.key),
      ['list/a', 'list/c'],
    );
    assert.deepEqual(
      (await all(client.listConfigurationSettings({ keyFilter: 'list/a,list/b' }))).map((s) => s.key),
      ['list/a', 'list/b'],
    );
    assert.equal((await client.getConfigurationSetting(first, { onlyIfChanged: true })).statusCode, 304);
    await client.setConfigurationSetting({ key: 'list/c', value: '4' });
    assert.equal(
      await statusOf(client.setConfigurationSetting({ ...first, value: '5' }, { onlyIfUnchanged: true })),
      412,
    );
    assert.equal(await statusOf(client.addConfigurationSetting({ key: 'list/a', value: 'x' })), 412);
    assert.deepEqual(
      (await all(client.listRevisions({ keyFilter: 'list/c' }))).map((r) => r.value),
      ['4', '3'],
    );
  });

  void it('stores a feature flag under .appconfig.featureflag/ verbatim', async () => {
    await client.setConfigurationSetting({
      key: `${featureFlagPrefix}Beta`,
      contentType: featureFlagContentType,
      value: {
        id: 'Beta',
        enabled: true,
        conditions: { clientFilters: [{ name: 'Microsoft.Percentage', parameters: { Value: 50 } }] },
      },
    });
    const read = await client.getConfigurationSetting({ key: `${featureFlagPrefix}Beta` });
    assert.equal(read.contentType, featureFlagContentType);
    const parsed = parseFeatureFlag(read);
    assert.equal(parsed.value.enabled, true);
    assert.deepEqual(parsed.value.conditions.clientFilters, [
      { name: 'Microsoft.Percentage', parameters: { Value: 50 } },
    ]);
    assert.equal(
      (await newer.getConfigurationSetting({ key: `${featureFlagPrefix}Beta` })).value,
      read.value,
      'the same text through 1.13',
    );
  });

  void it('is refused with 401 for a wrong secret, and nothing is written', async () => {
    const before = await storeState(ts);
    const bad = new AppConfigurationClient(
      connectionString.replace(/Secret=.*$/u, `Secret=${Buffer.alloc(32, 3).toString('base64')}`),
      insecure,
    );
    assert.equal(await statusOf(bad.setConfigurationSetting({ key: 'x/y', value: 'z' })), 401);
    assert.deepEqual(await storeState(ts), before);
  });
});
