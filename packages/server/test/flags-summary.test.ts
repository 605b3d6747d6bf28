// The flags summary (GET /v1/namespaces/{ns}/flags) and the usage counts behind it, with the real
// clients: Herald's OpenFeature provider in-process (counts sent with the SDK's reports),
// @openfeature/ofrep-provider against the control plane and against a relay (counts forwarded
// upstream), and a hostile client whose unknown flags and variants add no rows.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import type { PublicKeyInfo } from '@herald/core';
import { azureFlagContentType, flagContentType } from '@herald/flags';
import { HeraldProvider } from '@herald/openfeature';
import { HeraldClient } from '@herald/sdk';
import { Relay } from '@herald/server';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

interface Summary {
  namespace: string;
  label: string | null;
  staleAfterDays: number;
  flags: Array<{
    key: string;
    kind: string;
    state: string;
    variants: Record<string, unknown>;
    defaultVariant: string | null;
    hasTargeting: boolean;
    revision: number;
    rollout: unknown;
    evaluations: { hour: Record<string, number>; day: Record<string, number> };
    lastEvaluatedAt: string | null;
    stale: boolean;
  }>;
}

const ns = 'summary-flags';
let ts: TestServer;
let relay: Relay;
let cache: { path: string; cleanup: () => Promise<void> };
let dir: { path: string; cleanup: () => Promise<void> };
let clientToken: string;
let readerToken: string;
let client: HeraldClient;

const checkout = {
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant: 'off',
  targeting: { if: [{ '==': [{ var: 'region' }, 'eu'] }, 'on', 'off'] },
};

before(async () => {
  ts = await startTestServer({ config: { reportFlushMs: 100 } });
  dir = await tempDir('herald-flags-summary-');
  cache = await tempDir('herald-flags-summary-relay-');
  await createNamespace(ts, ns);
  await setEntry(ts, ns, 'checkout', { value: checkout, contentType: flagContentType });
  await setEntry(ts, ns, 'rps', {
    value: { state: 'DISABLED', variants: { low: 10, high: 1000 }, defaultVariant: 'high' },
    contentType: flagContentType,
  });
  await setEntry(
    ts,
    ns,
    'prod-only',
    {
      value: { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a' },
      contentType: flagContentType,
    },
    'prod',
  );
  await setEntry(ts, ns, '.appconfig.featureflag/beta', {
    value: {
      id: 'beta',
      enabled: true,
      conditions: { client_filters: [{ name: 'Microsoft.Targeting' }] },
      variants: [
        { name: 'big', configuration_value: 10 },
        { name: 'small', configuration_value: 1 },
      ],
      allocation: { default_when_enabled: 'small' },
    },
    contentType: azureFlagContentType,
  });
  await setEntry(ts, ns, 'plain', { value: 42 });
  clientToken = (await createToken(ts, [{ namespaces: ns, role: 'client' }])).token;
  readerToken = (await createToken(ts, [{ namespaces: ns, role: 'reader' }])).token;
  const relayToken = (await createToken(ts, [{ namespaces: ns, role: 'client' }])).token;
  relay = new Relay({
    upstream: ts.url,
    token: relayToken,
    trust: 'tofu',
    cacheDir: cache.path,
    logLevel: 'error',
    routeWaitSeconds: 1,
    reportFlushMs: 100,
  });
  await relay.listen();
});

after(async () => {
  await OpenFeature.close();
  await client?.destroy();
  await relay.close();
  await ts.close();
  await cache.cleanup();
  await dir.cleanup();
});

async function summary(query = '', token = readerToken): Promise<Summary> {
  const response = await call({ url: ts.url, adminToken: token }, 'GET', `/v1/namespaces/${ns}/flags${query}`);
  assert.equal(response.status, 200, response.text);
  return response.json as Summary;
}

void describe('the flags summary', () => {
  void it('lists the flags of a label, both kinds, with nothing evaluated yet', async () => {
    const body = await summary();
    assert.equal(body.namespace, ns);
    assert.equal(body.label, null);
    assert.equal(body.staleAfterDays, 7);
    assert.deepEqual(
      body.flags.map((f) => f.key),
      ['.appconfig.featureflag/beta', 'checkout', 'rps'],
      'flags only (not plain entries), of the empty label, in key order',
    );
    const [beta, flag, rps] = body.flags;
    assert.deepEqual(
      { ...flag, revision: 0 },
      {
        key: 'checkout',
        kind: 'flagd',
        state: 'ENABLED',
        variants: { on: true, off: false },
        defaultVariant: 'off',
        hasTargeting: true,
        revision: 0,
        rollout: null,
        evaluations: { hour: {}, day: {} },
        lastEvaluatedAt: null,
        stale: false,
      },
    );
    assert.ok((flag?.revision ?? 0) > 0);
    assert.deepEqual([rps?.state, rps?.hasTargeting], ['DISABLED', false]);
    assert.deepEqual(
      [beta?.kind, beta?.state, beta?.variants, beta?.defaultVariant, beta?.hasTargeting],
      ['azure', 'ENABLED', { big: 10, small: 1 }, 'small', true],
    );
    const prod = await summary('?label=prod');
    assert.equal(prod.label, 'prod');
    assert.deepEqual(
      prod.flags.map((f) => f.key),
      ['prod-only'],
    );
  });

  void it('is for readers of the namespace, with bounded staleDays', async () => {
    const refused = await call({ url: ts.url, adminToken: clientToken }, 'GET', `/v1/namespaces/${ns}/flags`);
    assert.equal(refused.status, 403);
    for (const bad of ['0', '366', 'x', '1.5']) {
      const response = await call(ts, 'GET', `/v1/namespaces/${ns}/flags?staleDays=${bad}`);
      assert.equal(response.status, 400, `staleDays=${bad}`);
    }
    assert.equal((await summary('?staleDays=30')).staleAfterDays, 30);
    assert.equal((await call(ts, 'GET', '/v1/namespaces/nope/flags')).status, 404);
  });
});

void describe('usage counts', () => {
  void it('counts the in-process provider’s evaluations, sent with the SDK’s reports', async () => {
    const keys = (await ts.admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
    client = new HeraldClient({
      url: ts.url,
      token: clientToken,
      instanceId: 'web-1',
      attributes: { region: 'eu' },
      views: [{ namespace: ns }],
      trustedKeys: keys,
      cacheDir: dir.path,
      reportIntervalMs: 200,
    });
    await OpenFeature.setProviderAndWait(
      'in-process',
      new HeraldProvider({ client, namespace: ns, instance: { id: 'web-1', attributes: { region: 'eu' } } }),
    );
    const flags = OpenFeature.getClient('in-process');
    for (let i = 0; i < 3; i += 1) assert.equal(await flags.getBooleanValue('checkout', false), true);
    assert.equal(await flags.getBooleanValue('checkout', true, { region: 'us' }), false);
    const counted = await eventually(
      async () => {
        const flag = (await summary()).flags.find((f) => f.key === 'checkout');
        return flag?.evaluations.hour.on === 3 && flag;
      },
      { message: 'the provider’s counts to reach the summary', timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.deepEqual(counted.evaluations, { hour: { on: 3, off: 1 }, day: { on: 3, off: 1 } });
    assert.ok(counted.lastEvaluatedAt !== null);
    assert.equal(counted.stale, false);
  });

  void it('counts OFREP on the control plane and on a relay (forwarded upstream)', async () => {
    const before = (await summary()).flags.find((f) => f.key === 'checkout')?.evaluations.day.off ?? 0;
    for (const [domain, base] of [
      ['cp', ts.url],
      ['relay', relay.url],
    ] as const) {
      await OpenFeature.setProviderAndWait(
        domain,
        new OFREPProvider({
          baseUrl: `${base}/v1/namespaces/${ns}`,
          headers: { Authorization: `Bearer ${clientToken}` },
        }),
      );
      assert.equal(await OpenFeature.getClient(domain).getBooleanValue('checkout', true, { targetingKey: 'u' }), false);
    }
    await eventually(
      async () => (await summary()).flags.find((f) => f.key === 'checkout')?.evaluations.day.off === before + 2,
      { message: 'both OFREP evaluations to be counted', timeoutMs: 30_000, intervalMs: 200 },
    );
  });

  void it('passes the counts of reports sent to a relay upstream', async () => {
    const before = (await summary()).flags.find((f) => f.key === 'rps')?.evaluations.day.high ?? 0;
    const sent = await call({ url: relay.url, adminToken: clientToken }, 'POST', '/v1/reports', {
      body: { instanceId: 'behind-relay', evaluations: [{ namespace: ns, flag: 'rps', variant: 'high', count: 4 }] },
    });
    assert.equal(sent.status, 202, sent.text);
    const elsewhere = await call({ url: relay.url, adminToken: clientToken }, 'POST', '/v1/reports', {
      body: {
        instanceId: 'behind-relay',
        evaluations: [{ namespace: 'other', flag: 'rps', variant: 'high', count: 1 }],
      },
    });
    assert.equal(elsewhere.status, 403, 'the relay checks its client may view the namespace');
    await eventually(
      async () => (await summary()).flags.find((f) => f.key === 'rps')?.evaluations.day.high === before + 4,
      { message: 'the relay to forward the counts', timeoutMs: 30_000, intervalMs: 200 },
    );
  });

  void it('adds no rows for unknown flags or variants, and refuses counts for other namespaces', async () => {
    const hostile = {
      instanceId: 'evil-1',
      views: [],
      evaluations: [
        { namespace: ns, flag: 'no-such-flag', variant: 'on', count: 5 },
        { namespace: ns, flag: 'checkout', variant: 'made-up', count: 5 },
        { namespace: ns, flag: 'plain', variant: 'x', count: 5 },
        { namespace: ns, flag: 'rps', variant: 'low', count: 2 },
      ],
    };
    const sent = await call({ url: ts.url, adminToken: clientToken }, 'POST', '/v1/reports', { body: hostile });
    assert.equal(sent.status, 202, sent.text);
    const tooBig = await call({ url: ts.url, adminToken: clientToken }, 'POST', '/v1/reports', {
      body: { instanceId: 'evil-2', evaluations: [{ namespace: ns, flag: 'rps', variant: 'low', count: 1e13 }] },
    });
    assert.equal(tooBig.status, 400);
    const elsewhere = await call({ url: ts.url, adminToken: clientToken }, 'POST', '/v1/reports', {
      body: { instanceId: 'evil-3', evaluations: [{ namespace: 'other', flag: 'rps', variant: 'low', count: 1 }] },
    });
    assert.equal(elsewhere.status, 403);
    await eventually(async () => (await summary()).flags.find((f) => f.key === 'rps')?.evaluations.day.low === 2, {
      message: 'the known variant to be counted',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const rows = await ts.store.readFlagEvaluations(ns, 0);
    assert.deepEqual(
      [...new Set(rows.counts.map((r) => `${r.flag}:${r.variant}`))].sort(),
      ['checkout:off', 'checkout:on', 'rps:high', 'rps:low'],
      'nothing but real flags and variants was stored',
    );
  });
});
