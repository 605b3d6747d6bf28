// Herald's OpenFeature provider with the real @openfeature/server-sdk, against a real control plane
// in a child process: every typed resolution with its variant, reason and error codes; READY,
// CONFIGURATION_CHANGED with the changed flag keys, STALE when the control plane is killed and
// READY when it is back, READY from the verified cache on a restart with it down (then STALE),
// and ERROR when the server refuses the view.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { flagContentType } from '@herald/flags';
import { HeraldProvider } from '@herald/openfeature';
import { AdminClient, HeraldClient } from '@herald/sdk';
import { eventually, startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';
import { OpenFeature, ProviderEvents, type Client, type EventDetails } from '@openfeature/server-sdk';

let dir: { path: string; cleanup: () => Promise<void> };
let server: ServerProcess;
let admin: AdminClient;
let clientToken: string;
let keys: PublicKeyInfo[];
const ns = 'app';
const clients: HeraldClient[] = [];

const flags: Record<string, unknown> = {
  checkout: {
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    targeting: { if: [{ '==': [{ var: 'region' }, 'eu'] }, 'on', 'off'] },
  },
  banner: {
    state: 'ENABLED',
    variants: { blue: 'blue', green: 'green' },
    defaultVariant: 'blue',
    targeting: {
      fractional: [
        ['blue', 1],
        ['green', 1],
      ],
    },
    metadata: { owner: 'growth' },
  },
  rps: { state: 'ENABLED', variants: { low: 10, high: 1000 }, defaultVariant: 'high' },
  theme: { state: 'ENABLED', variants: { dark: { bg: '#000' } }, defaultVariant: 'dark' },
  retired: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  // Targeting that picks a variant by a context value: "gold" is not a variant, flagd answers GENERAL.
  plan: {
    state: 'ENABLED',
    variants: { free: 'free', pro: 'pro' },
    defaultVariant: 'free',
    targeting: { var: 'plan' },
  },
};

async function startServer(listen = '127.0.0.1:0'): Promise<ServerProcess> {
  server = await startHeraldProcess([
    'server',
    '--data',
    join(dir.path, 'data'),
    '--listen',
    listen,
    '--log-level',
    'error',
  ]);
  return server;
}

before(async () => {
  dir = await tempDir('herald-openfeature-');
  await startServer();
  admin = new AdminClient({ url: server.url, token: testAdminToken });
  await admin.post('/v1/namespaces', { name: ns });
  for (const [key, value] of Object.entries(flags))
    await admin.put(`/v1/namespaces/${ns}/entries/${encodeURIComponent(key)}`, { value, contentType: flagContentType });
  // A look-alike stored as plain JSON is not validated by the server: in the view it is a broken flag.
  await admin.put(`/v1/namespaces/${ns}/entries/broken`, {
    value: { state: 'ENABLED', variants: { a: 1 }, defaultVariant: 'b' },
  });
  await admin.put(`/v1/namespaces/${ns}/entries/plain`, { value: 'not a flag' });
  clientToken = (await admin.post<{ token: string }>('/v1/tokens', { scopes: [{ namespaces: ns, role: 'client' }] }))
    .token;
  keys = (await admin.get<{ keys: PublicKeyInfo[] }>('/v1/keys')).keys;
});

after(async () => {
  // The refused provider's initialize is still waiting for its view; ending it is not a failure.
  OpenFeature.setLogger({
    error: () => undefined,
    warn: () => undefined,
    info: () => undefined,
    debug: () => undefined,
  });
  await OpenFeature.close();
  await Promise.all(clients.map((c) => c.destroy()));
  await server.kill('SIGKILL');
  await dir.cleanup();
});

function heraldClient(cacheDir: string, token = clientToken): HeraldClient {
  const client = new HeraldClient({
    url: server.url,
    token,
    instanceId: 'web-1',
    attributes: { region: 'eu' },
    views: [{ namespace: ns }],
    trustedKeys: keys,
    cacheDir: join(dir.path, cacheDir),
    reconnect: { baseMs: 50, capMs: 250 },
  });
  clients.push(client);
  return client;
}

/** Every event the OpenFeature client of `domain` tells, in order. */
function recordEvents(client: Client): Array<{ type: ProviderEvents; details: EventDetails | undefined }> {
  const seen: Array<{ type: ProviderEvents; details: EventDetails | undefined }> = [];
  for (const type of [
    ProviderEvents.Ready,
    ProviderEvents.ConfigurationChanged,
    ProviderEvents.Stale,
    ProviderEvents.Error,
  ])
    client.addHandler(type, (details) => void seen.push({ type, details }));
  return seen;
}

const waitFor = (
  seen: Array<{ type: ProviderEvents }>,
  type: ProviderEvents,
  from: number,
  message: string,
): Promise<number> =>
  eventually(
    () => {
      const index = seen.findIndex((e, i) => i >= from && e.type === type);
      return index >= 0 ? index : undefined;
    },
    { message, timeoutMs: 30_000, intervalMs: 20 },
  );

void describe('HeraldProvider with @openfeature/server-sdk', () => {
  let client: Client;
  let events: Array<{ type: ProviderEvents; details: EventDetails | undefined }>;
  const instance = { id: 'web-1', attributes: { region: 'eu' } };

  before(async () => {
    const sdk = heraldClient('cache');
    await OpenFeature.setProviderAndWait('live', new HeraldProvider({ client: sdk, namespace: ns, instance }));
    client = OpenFeature.getClient('live');
    events = recordEvents(client);
  });

  void it('resolves every type locally, with variant and reason; instance attributes are in the context', async () => {
    const checkout = await client.getBooleanDetails('checkout', false);
    assert.deepEqual([checkout.value, checkout.variant, checkout.reason], [true, 'on', 'TARGETING_MATCH']);
    const elsewhere = await client.getBooleanDetails('checkout', true, { region: 'us' });
    assert.deepEqual([elsewhere.value, elsewhere.variant], [false, 'off'], 'the caller’s context wins');
    const banner = await client.getStringDetails('banner', 'none', { targetingKey: 'user-1' });
    assert.ok(['blue', 'green'].includes(banner.value));
    assert.deepEqual(
      [banner.variant, banner.reason, banner.flagMetadata],
      [banner.value, 'TARGETING_MATCH', { owner: 'growth' }],
    );
    const rps = await client.getNumberDetails('rps', 0);
    assert.deepEqual([rps.value, rps.variant, rps.reason], [1000, 'high', 'STATIC']);
    const theme = await client.getObjectDetails('theme', {});
    assert.deepEqual([theme.value, theme.variant, theme.reason], [{ bg: '#000' }, 'dark', 'STATIC']);
    const retired = await client.getBooleanDetails('retired', false);
    assert.deepEqual([retired.value, retired.reason, retired.errorCode], [false, 'DISABLED', undefined]);
  });

  void it('answers OpenFeature’s error codes with the default value', async () => {
    const cases: Array<[string, () => Promise<{ value: unknown; errorCode?: string; reason?: string }>, string]> = [
      ['nope', () => client.getBooleanDetails('nope', true), 'FLAG_NOT_FOUND'],
      ['plain', () => client.getStringDetails('plain', 'd'), 'FLAG_NOT_FOUND'],
      ['checkout', () => client.getStringDetails('checkout', 'd'), 'TYPE_MISMATCH'],
      ['broken', () => client.getNumberDetails('broken', 7), 'PARSE_ERROR'],
      ['banner', () => client.getStringDetails('banner', 'd'), 'TARGETING_KEY_MISSING'],
      ['plan', () => client.getStringDetails('plan', 'd', { plan: 'gold' }), 'GENERAL'],
    ];
    for (const [key, evaluate, code] of cases) {
      const details = await evaluate();
      assert.equal(details.errorCode, code, key);
      assert.equal(details.reason, 'ERROR', key);
      assert.notEqual(details.value, undefined, key);
    }
    assert.equal((await client.getStringDetails('plan', 'd', { plan: 'pro' })).value, 'pro');
  });

  void it('emits CONFIGURATION_CHANGED with the keys of the flags a release changed', async () => {
    const from = events.length;
    await admin.post(`/v1/namespaces/${ns}/commits`, {
      changes: [
        {
          op: 'set',
          key: 'rps',
          value: { ...(flags.rps as object), defaultVariant: 'low' },
          contentType: flagContentType,
        },
        { op: 'set', key: 'plain', value: 'still not a flag' },
      ],
    });
    const at = await waitFor(events, ProviderEvents.ConfigurationChanged, from, 'configuration changed');
    assert.deepEqual(events[at]?.details?.flagsChanged, ['rps']);
    assert.equal(await client.getNumberValue('rps', 0), 10);
  });

  void it('emits STALE when the control plane is killed, keeps answering, and READY when it is back', async () => {
    const from = events.length;
    const url = new URL(server.url);
    await server.kill('SIGKILL');
    await waitFor(events, ProviderEvents.Stale, from, 'stale after the kill');
    assert.equal(await client.getNumberValue('rps', 0), 10, 'evaluated from the verified view held');
    await startServer(`${url.hostname}:${url.port}`);
    await waitFor(events, ProviderEvents.Ready, from, 'ready once the stream is back');
  });

  void it('is READY at once from the verified cache on a restart with the control plane down, then STALE', async () => {
    await OpenFeature.clearProviders();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.kill('SIGKILL');
    const sdk = heraldClient('cache');
    const provider = new HeraldProvider({ client: sdk, namespace: ns, instance, closeClient: true });
    const restarted = OpenFeature.getClient('restarted');
    const seen = recordEvents(restarted);
    await OpenFeature.setProviderAndWait('restarted', provider);
    assert.equal(sdk.snapshot(ns)?.source, 'cache');
    assert.equal(await restarted.getNumberValue('rps', 0), 10);
    assert.equal(await restarted.getBooleanValue('checkout', false), true);
    const ready = await waitFor(seen, ProviderEvents.Ready, 0, 'ready');
    await waitFor(seen, ProviderEvents.Stale, ready, 'stale after ready: the upstream is unreachable');
    await startServer();
  });

  void it('emits ERROR when the server refuses the view', async () => {
    const other = (
      await new AdminClient({ url: server.url, token: testAdminToken }).post<{ token: string }>('/v1/tokens', {
        scopes: [{ namespaces: 'elsewhere', role: 'client' }],
      })
    ).token;
    const sdk = heraldClient('cache-refused', other);
    const refused = OpenFeature.getClient('refused');
    const seen = recordEvents(refused);
    OpenFeature.setProvider('refused', new HeraldProvider({ client: sdk, namespace: ns }));
    const at = await waitFor(seen, ProviderEvents.Error, 0, 'error on 403');
    assert.match(seen[at]?.details?.message ?? '', /refuses/u);
  });
});
