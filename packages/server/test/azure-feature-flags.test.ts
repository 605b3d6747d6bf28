// Azure feature flags through Microsoft's own packages end to end: written with
// @azure/app-configuration, loaded with @azure/app-configuration-provider, evaluated with
// @microsoft/feature-management (filters, targeting, variants). A flag that breaks Microsoft's
// feature-flag schema v2 is refused by the server (422 invalid_flag) and nothing is written.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AppConfigurationClient,
  featureFlagContentType,
  featureFlagPrefix,
  type FeatureFlagValue,
  type SetConfigurationSettingParam,
} from '@azure/app-configuration';
import { load } from '@azure/app-configuration-provider';
import { ConfigurationMapFeatureFlagProvider, FeatureManager } from '@microsoft/feature-management';
import { startTestServer, type TestServer } from '@herald/testkit';
import { storeState } from './helpers.js';
import { createStore, insecure, statusOf } from './azure-helpers.js';

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});

after(async () => {
  await ts.close();
});

function flag(id: string, value: Omit<FeatureFlagValue, 'id'>): SetConfigurationSettingParam<FeatureFlagValue> {
  return { key: `${featureFlagPrefix}${id}`, contentType: featureFlagContentType, value: { id, ...value } };
}

/** A flag as text, for members the SDK's FeatureFlagValue does not model (variants, allocation). */
function flagText(id: string, value: Record<string, unknown>): SetConfigurationSettingParam {
  return {
    key: `${featureFlagPrefix}${id}`,
    contentType: featureFlagContentType,
    value: JSON.stringify({ id, ...value }),
  };
}

void describe('Azure feature flags with Microsoft’s packages', () => {
  void it('are evaluated by @microsoft/feature-management as the provider loaded them', async () => {
    const key = await createStore(ts, 'azure-ff');
    const client = new AppConfigurationClient(key.connectionString, insecure);
    await client.setConfigurationSetting(flag('Beta', { enabled: true, conditions: { clientFilters: [] } }));
    await client.setConfigurationSetting(flag('Legacy', { enabled: false, conditions: { clientFilters: [] } }));
    await client.setConfigurationSetting(
      flag('Staff', {
        enabled: true,
        conditions: {
          clientFilters: [
            {
              name: 'Microsoft.Targeting',
              parameters: { Audience: { Users: ['kim'], Groups: [], DefaultRolloutPercentage: 0 } },
            },
          ],
        },
      }),
    );
    await client.setConfigurationSetting(
      flagText('Greeting', {
        enabled: true,
        variants: [
          { name: 'Formal', configuration_value: 'Good day' },
          { name: 'Casual', configuration_value: 'Hi' },
        ],
        allocation: { default_when_enabled: 'Formal', user: [{ variant: 'Casual', users: ['kim'] }] },
      }),
    );

    const settings = await load(key.connectionString, {
      clientOptions: insecure,
      replicaDiscoveryEnabled: false,
      startupOptions: { timeoutInMs: 15_000 },
      featureFlagOptions: { enabled: true, selectors: [{ keyFilter: '*' }] },
    });
    const features = new FeatureManager(new ConfigurationMapFeatureFlagProvider(settings));
    assert.equal(await features.isEnabled('Beta'), true);
    assert.equal(await features.isEnabled('Legacy'), false);
    assert.equal(await features.isEnabled('Staff', { userId: 'kim' }), true);
    assert.equal(await features.isEnabled('Staff', { userId: 'lee' }), false);
    assert.equal((await features.getVariant('Greeting', { userId: 'kim' }))?.configuration, 'Hi');
    assert.equal((await features.getVariant('Greeting', { userId: 'lee' }))?.configuration, 'Good day');
  });

  void it('are refused when they break Microsoft’s schema, and nothing is written', async () => {
    const key = await createStore(ts, 'azure-ff-bad');
    const client = new AppConfigurationClient(key.connectionString, insecure);
    const before = await storeState(ts);
    assert.equal(await statusOf(client.setConfigurationSetting(flagText('Beta', { enabled: 'yes' }))), 422);
    assert.equal(await statusOf(client.setConfigurationSetting(flagText('Other', { id: 'Beta', enabled: true }))), 422);
    assert.equal(
      await statusOf(
        client.setConfigurationSetting(
          flagText('Greeting', { enabled: true, variants: [{ name: 'A' }], allocation: { default_when_enabled: 'B' } }),
        ),
      ),
      422,
    );
    assert.equal(
      await statusOf(
        client.setConfigurationSetting(
          flagText('Filters', { enabled: true, conditions: { requirement_type: 'Some', client_filters: [{}] } }),
        ),
      ),
      422,
    );
    assert.deepEqual(await storeState(ts), before);
    // The refusal names the problem in the Azure API's problem+json, as the SDK reads it.
    const refusal = await client.setConfigurationSetting(flagText('Beta', { enabled: 3 })).then(
      () => assert.fail('expected a refusal'),
      (error: { details?: { type?: string; detail?: string } }) => error.details,
    );
    assert.equal(refusal?.type, 'urn:herald:error:invalid_flag');
    assert.match(refusal?.detail ?? '', /\.appconfig\.featureflag\/Beta:\/enabled .*must be boolean/u);
  });
});
