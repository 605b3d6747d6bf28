// Microsoft's configuration provider (@azure/app-configuration-provider 2.6) against a real Herald
// server: load() with selectors, trimmed prefixes and JSON values; refresh by a sentinel key and by
// page etags ("watch all"), with no change callbacks when nothing changed; feature flags; Key Vault
// references resolved by the application's own resolver; snapshots as selectors and references.
// Every write is made with @azure/app-configuration; nothing here is a hand-made request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AppConfigurationClient,
  featureFlagContentType,
  featureFlagPrefix,
  secretReferenceContentType,
  snapshotReferenceContentType,
  type FeatureFlagValue,
  type SetConfigurationSettingParam,
} from '@azure/app-configuration';
import { load, type AzureAppConfigurationOptions } from '@azure/app-configuration-provider';
import { startTestServer, type TestServer } from '@herald/testkit';
import { createStore, insecure, sleep } from './azure-helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts.close();
});

/** A store of its own per test: one namespace, one writer key, an SDK client and provider options for it. */
async function store(namespace: string): Promise<{ client: AppConfigurationClient; connectionString: string }> {
  const key = await createStore(ts, namespace);
  return { client: new AppConfigurationClient(key.connectionString, insecure), connectionString: key.connectionString };
}

/** What every provider needs against a self-hosted server on plain HTTP (docs/azure-compat.md). */
const base: AzureAppConfigurationOptions = {
  clientOptions: insecure,
  replicaDiscoveryEnabled: false,
  startupOptions: { timeoutInMs: 15_000 },
};

/** The provider's refresh does nothing until its interval (at least 1 s) has passed since the last one. */
const refreshInterval = 1000;
const afterInterval = () => sleep(refreshInterval + 100);

function flag(
  id: string,
  enabled: boolean,
  extra: Partial<FeatureFlagValue> = {},
): SetConfigurationSettingParam<FeatureFlagValue> {
  return {
    key: `${featureFlagPrefix}${id}`,
    contentType: featureFlagContentType,
    value: { id, enabled, conditions: { clientFilters: [] }, ...extra },
  };
}

void describe('Azure provider 2.6: load()', () => {
  void it('loads selected key-values, later selectors winning, with prefixes trimmed and JSON values parsed', async () => {
    const { client, connectionString } = await store('provider-load');
    await client.setConfigurationSetting({ key: 'app:db:host', value: 'localhost' });
    await client.setConfigurationSetting({ key: 'app:db:host', label: 'prod', value: 'db.prod' });
    await client.setConfigurationSetting({ key: 'app:db:port', value: '5432', contentType: 'application/json' });
    await client.setConfigurationSetting({
      key: 'app:limits',
      value: '{"rps": 100, "burst": [1, 2]}',
      contentType: 'application/json',
    });
    await client.setConfigurationSetting({ key: 'shared:region', value: 'westeurope', tags: { scope: 'global' } });
    await client.setConfigurationSetting({ key: 'shared:secretish', value: 'hidden', tags: { scope: 'local' } });
    await client.setConfigurationSetting({ key: 'unrelated', value: 'x' });

    const settings = await load(connectionString, {
      ...base,
      selectors: [
        { keyFilter: 'app:*' },
        { keyFilter: 'app:*', labelFilter: 'prod' },
        { keyFilter: 'shared:*', tagFilters: ['scope=global'] },
      ],
      trimKeyPrefixes: ['app:', 'shared:'],
    });
    assert.deepEqual([...settings.keys()].sort(), ['db:host', 'db:port', 'limits', 'region']);
    assert.equal(settings.get('db:host'), 'db.prod', 'the later selector (label prod) wins');
    assert.equal(settings.get('db:port'), 5432);
    assert.deepEqual(settings.get('limits'), { rps: 100, burst: [1, 2] });
    assert.equal(settings.get('region'), 'westeurope');
    assert.deepEqual(settings.constructConfigurationObject({ separator: ':' }), {
      db: { host: 'db.prod', port: 5432 },
      limits: { rps: 100, burst: [1, 2] },
      region: 'westeurope',
    });

    const defaults = await load(connectionString, base);
    assert.equal(defaults.get('app:db:host'), 'localhost', 'the default selector is every key with the null label');
    assert.equal(defaults.get('unrelated'), 'x');
  });

  void it('loads a snapshot as a selector, and follows a snapshot reference', async () => {
    const { client, connectionString } = await store('provider-snapshot');
    await client.setConfigurationSetting({ key: 'svc:mode', value: 'v1' });
    await client.beginCreateSnapshotAndWait({ name: 'frozen', filters: [{ keyFilter: 'svc:*', labelFilter: '\0' }] });
    await client.setConfigurationSetting({ key: 'svc:mode', value: 'v2' });
    await client.setConfigurationSetting({
      key: 'pointer',
      value: JSON.stringify({ snapshot_name: 'frozen' }),
      contentType: snapshotReferenceContentType,
    });

    const fromSnapshot = await load(connectionString, { ...base, selectors: [{ snapshotName: 'frozen' }] });
    assert.deepEqual([...fromSnapshot.entries()], [['svc:mode', 'v1']]);
    const referenced = await load(connectionString, { ...base, selectors: [{ keyFilter: 'pointer' }] });
    assert.equal(referenced.get('svc:mode'), 'v1', 'the reference brings in the snapshot contents');
  });

  void it('resolves a Key Vault reference with the application resolver (the server only stores it)', async () => {
    const { client, connectionString } = await store('provider-keyvault');
    await client.setConfigurationSetting({
      key: 'db:password',
      contentType: secretReferenceContentType,
      value: JSON.stringify({ uri: 'https://vault.example.net/secrets/db-password' }),
    });
    await client.setConfigurationSetting({ key: 'db:user', value: 'app' });
    const asked: string[] = [];
    const settings = await load(connectionString, {
      ...base,
      keyVaultOptions: {
        secretResolver: (url: URL) => {
          asked.push(url.toString());
          return `secret-for-${url.pathname.split('/').at(-1) ?? ''}`;
        },
      },
    });
    assert.deepEqual(asked, ['https://vault.example.net/secrets/db-password']);
    assert.equal(settings.get('db:password'), 'secret-for-db-password');
    assert.equal(settings.get('db:user'), 'app');
  });
});

void describe('Azure provider 2.6: refresh', () => {
  void it('by a sentinel key: reloads everything when the sentinel changes, nothing before', async () => {
    const { client, connectionString } = await store('provider-sentinel');
    await client.setConfigurationSetting({ key: 'app:color', value: 'blue' });
    await client.setConfigurationSetting({ key: 'app:sentinel', value: '1' });
    const settings = await load(connectionString, {
      ...base,
      selectors: [{ keyFilter: 'app:*' }],
      refreshOptions: {
        enabled: true,
        refreshIntervalInMs: refreshInterval,
        watchedSettings: [{ key: 'app:sentinel' }],
      },
    });
    let refreshes = 0;
    settings.onRefresh(() => (refreshes += 1));

    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 0, 'nothing changed');
    await client.setConfigurationSetting({ key: 'app:color', value: 'green' });
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 0, 'a change to another key is not seen until the sentinel changes');
    assert.equal(settings.get('app:color'), 'blue');

    await client.setConfigurationSetting({ key: 'app:sentinel', value: '2' });
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 1);
    assert.equal(settings.get('app:color'), 'green');
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 1, 'and no more callbacks afterwards');
  });

  void it('by page etags over more than one page: no callback while nothing changes, one per change', async () => {
    const { client, connectionString } = await store('provider-watch-all');
    const name = (i: number) => `item:${String(i).padStart(3, '0')}`;
    for (let i = 0; i < 150; i += 1) await client.setConfigurationSetting({ key: name(i), value: String(i) });
    const settings = await load(connectionString, {
      ...base,
      selectors: [{ keyFilter: 'item:*' }],
      refreshOptions: { enabled: true, refreshIntervalInMs: refreshInterval },
    });
    assert.equal(settings.size, 150);
    let refreshes = 0;
    settings.onRefresh(() => (refreshes += 1));

    for (let round = 0; round < 3; round += 1) {
      await afterInterval();
      await settings.refresh();
    }
    assert.equal(refreshes, 0, 'three refreshes, nothing changed: every page answered 304');

    await client.setConfigurationSetting({ key: name(140), value: 'changed' });
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 1, 'a change on the second page is seen');
    assert.equal(settings.get(name(140)), 'changed');

    await client.deleteConfigurationSetting({ key: name(3) });
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 2);
    assert.equal(settings.has(name(3)), false);
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 2);
  });
});

void describe('Azure provider 2.6: feature flags', () => {
  void it('loads feature flags and refreshes them', async () => {
    const { client, connectionString } = await store('provider-flags');
    await client.setConfigurationSetting(flag('Beta', true, { description: 'the beta' }));
    await client.setConfigurationSetting(flag('Legacy', false));
    await client.setConfigurationSetting({ ...flag('Beta', false), label: 'prod' });
    await client.setConfigurationSetting({ key: 'app:title', value: 'Shop' });

    const settings = await load(connectionString, {
      ...base,
      featureFlagOptions: {
        enabled: true,
        selectors: [{ keyFilter: '*' }],
        refresh: { enabled: true, refreshIntervalInMs: refreshInterval },
      },
    });
    type Flags = { feature_flags: Array<{ id: string; enabled: boolean; description?: string }> };
    const flags = () =>
      settings
        .get<Flags>('feature_management')
        ?.feature_flags.map((f) => [f.id, f.enabled])
        .sort();
    assert.deepEqual(
      flags(),
      [
        ['Beta', true],
        ['Legacy', false],
      ],
      'flags with the null label',
    );
    assert.equal(
      settings.get<Flags>('feature_management')?.feature_flags.find((f) => f.id === 'Beta')?.description,
      'the beta',
    );
    assert.equal(settings.get('app:title'), 'Shop');
    assert.equal(settings.has(`${featureFlagPrefix}Beta`), false, 'flags are not plain settings');

    let refreshes = 0;
    settings.onRefresh(() => (refreshes += 1));
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 0);
    await client.setConfigurationSetting(flag('Legacy', true));
    await afterInterval();
    await settings.refresh();
    assert.equal(refreshes, 1);
    assert.deepEqual(flags(), [
      ['Beta', true],
      ['Legacy', true],
    ]);

    const prod = await load(connectionString, {
      ...base,
      featureFlagOptions: { enabled: true, selectors: [{ keyFilter: 'Beta', labelFilter: 'prod' }] },
    });
    assert.deepEqual(
      prod.get<Flags>('feature_management')?.feature_flags.map((f) => [f.id, f.enabled]),
      [['Beta', false]],
    );
  });
});
