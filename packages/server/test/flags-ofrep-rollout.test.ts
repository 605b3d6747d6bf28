// OFREP during a staged rollout: an evaluation whose context names an instance (instanceId, else
// targetingKey, with its attributes) gets the release that instance's wave gives it, on the
// control plane and on a relay; one that names none gets the stable release. On rollback every
// instance is back on the old value. The flags summary says where the flag is in the rollout.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { flagContentType } from '@herald/flags';
import { Relay } from '@herald/server';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

const ns = 'rollout-flags';
let ts: TestServer;
let relay: Relay;
let cache: { path: string; cleanup: () => Promise<void> };
let clientToken: string;

const flag = (defaultVariant: 'on' | 'off') => ({
  value: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant },
  contentType: flagContentType,
});

before(async () => {
  ts = await startTestServer({ config: { rolloutTickMs: 100 } });
  cache = await tempDir('herald-ofrep-rollout-');
  await createNamespace(ts, ns);
  await setEntry(ts, ns, 'checkout', flag('off'));
  clientToken = (await createToken(ts, [{ namespaces: ns, role: 'client' }])).token;
  const relayToken = (await createToken(ts, [{ namespaces: ns, role: 'client' }])).token;
  relay = new Relay({
    upstream: ts.url,
    token: relayToken,
    trust: 'tofu',
    cacheDir: cache.path,
    logLevel: 'error',
    routeWaitSeconds: 1,
  });
  await relay.listen();
});

after(async () => {
  await relay.close();
  await ts.close();
  await cache.cleanup();
});

async function evaluate(base: string, context: Record<string, unknown>): Promise<unknown> {
  const response = await call(
    { url: base, adminToken: clientToken },
    'POST',
    `/v1/namespaces/${ns}/ofrep/v1/evaluate/flags/checkout`,
    { body: { context } },
  );
  assert.equal(response.status, 200, response.text);
  return (response.json as { value: unknown }).value;
}

const canary = { targetingKey: 'user-1', instanceId: 'web-eu-1', region: 'eu' };
const other = { targetingKey: 'web-us-1', region: 'us' };

void test('an instance in the canary wave evaluates the candidate, the others the stable release; rollback brings both back', async () => {
  const policy = await call(ts, 'PUT', `/v1/namespaces/${ns}/policy`, {
    body: {
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 100, bake: '1h', match: { region: ['eu'] } },
        { name: 'everyone', percent: 100, bake: '0s' },
      ],
      gates: { minReportRatio: 0, maxRejectRatio: 1, maxUnhealthyRatio: 1 },
      autoRollback: false,
    },
  });
  assert.equal(policy.status, 200, policy.text);
  await setEntry(ts, ns, 'checkout', flag('on'));
  const released = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: { note: 'toggle' } });
  assert.equal(released.status, 201, released.text);
  const paused = await call(ts, 'POST', `/v1/namespaces/${ns}/rollout/pause`, { body: {} });
  assert.equal(paused.status, 200, paused.text);

  for (const base of [ts.url, relay.url]) {
    await eventually(async () => (await evaluate(base, canary)) === true, {
      message: `the canary to see the candidate at ${base}`,
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    assert.equal(await evaluate(base, other), false, 'an instance outside the wave keeps the stable value');
    assert.equal(await evaluate(base, {}), false, 'a context naming no instance gets the stable release');
    assert.equal(
      await evaluate(base, { targetingKey: 'web-eu-2', region: 'eu' }),
      true,
      'the targetingKey names the instance when there is no instanceId',
    );
  }

  const summary = await call(ts, 'GET', `/v1/namespaces/${ns}/flags`);
  const item = (summary.json as { flags: Array<{ key: string; rollout: unknown; defaultVariant: string }> }).flags[0];
  assert.equal(item?.defaultVariant, 'on');
  assert.deepEqual(item?.rollout, {
    seq: 2,
    state: 'paused',
    wave: 'canary',
    stable: { state: 'ENABLED', defaultVariant: 'off' },
  });

  const rolledBack = await call(ts, 'POST', `/v1/namespaces/${ns}/rollout/rollback`, { body: {} });
  assert.equal(rolledBack.status, 200, rolledBack.text);
  for (const base of [ts.url, relay.url]) {
    await eventually(async () => (await evaluate(base, canary)) === false, {
      message: `the canary to be rolled back at ${base}`,
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    assert.equal(await evaluate(base, other), false);
  }
  const after = await call(ts, 'GET', `/v1/namespaces/${ns}/flags`);
  assert.equal((after.json as { flags: Array<{ rollout: unknown }> }).flags[0]?.rollout, null);
});
