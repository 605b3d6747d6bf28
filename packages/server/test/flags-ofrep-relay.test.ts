// OFREP on a relay, driven by the real client (@openfeature/ofrep-provider with base URL
// {relay}/v1/namespaces/{ns} and a bearer token, unchanged): evaluated from the relay's verified
// cache, with the control plane's auth rules, the bulk ETag, and still answering after the
// control plane (a real `herald server` child process) is killed with SIGKILL.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { flagContentType } from '@herald/flags';
import { Relay } from '@herald/server';
import { eventually, startHeraldProcess, tempDir, testAdminToken, type ServerProcess } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

const ns = 'relay-flags';
let server: ServerProcess;
let relay: Relay;
let data: { path: string; cleanup: () => Promise<void> };
let cache: { path: string; cleanup: () => Promise<void> };
let clientToken: string;
let otherToken: string;

before(async () => {
  data = await tempDir('herald-ofrep-relay-data-');
  cache = await tempDir('herald-ofrep-relay-cache-');
  server = await startHeraldProcess(['server', '--data', data.path, '--listen', '127.0.0.1:0', '--log-level', 'error']);
  const cp = { url: server.url, adminToken: testAdminToken };
  await createNamespace(cp, ns);
  await setEntry(cp, ns, 'checkout', {
    value: {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', 'off'] },
    },
    contentType: flagContentType,
  });
  await setEntry(cp, ns, 'hidden', {
    value: { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a' },
    contentType: flagContentType,
    secret: true,
  });
  const relayToken = await createToken(cp, [{ namespaces: ns, role: 'client' }]);
  clientToken = (await createToken(cp, [{ namespaces: ns, role: 'client' }])).token;
  otherToken = (await createToken(cp, [{ namespaces: 'elsewhere', role: 'client' }])).token;
  relay = new Relay({
    upstream: server.url,
    token: relayToken.token,
    trust: 'tofu',
    cacheDir: cache.path,
    logLevel: 'error',
    routeWaitSeconds: 1,
  });
  await relay.listen();
});

after(async () => {
  await OpenFeature.close();
  await relay.close();
  await server.kill('SIGKILL');
  await cache.cleanup();
  await data.cleanup();
});

function provider(token: string): OFREPProvider {
  return new OFREPProvider({
    baseUrl: `${relay.url}/v1/namespaces/${ns}`,
    headers: { Authorization: `Bearer ${token}` },
  });
}

void test('a relay evaluates OFREP from its cache, with the control plane’s rules, and after the control plane is killed', async () => {
  await OpenFeature.setProviderAndWait('relay', provider(clientToken));
  const flags = OpenFeature.getClient('relay');
  const staff = await flags.getBooleanDetails('checkout', false, { targetingKey: 'u1', email: 'kim@example.com' });
  assert.deepEqual([staff.value, staff.variant, staff.reason], [true, 'on', 'TARGETING_MATCH']);
  assert.equal((await flags.getStringDetails('hidden', 'd')).errorCode, 'FLAG_NOT_FOUND', 'no secrets for this token');

  const base = `/v1/namespaces/${ns}/ofrep/v1/evaluate/flags`;
  const refused = await call({ url: relay.url, adminToken: otherToken }, 'POST', `${base}/checkout`, { body: {} });
  assert.equal(refused.status, 403, 'a token of another namespace may not evaluate');
  const unauthenticated = await call({ url: relay.url, adminToken: '' }, 'POST', base, { token: null, body: {} });
  assert.equal(unauthenticated.status, 401);
  const body = { context: { targetingKey: 'u2', email: 'x@example.com' } };
  const bulk = await call({ url: relay.url, adminToken: clientToken }, 'POST', base, { body });
  assert.equal(bulk.status, 200, bulk.text);
  const etag = bulk.headers.get('etag') ?? '';
  assert.ok(etag !== '');
  const same = await call({ url: relay.url, adminToken: clientToken }, 'POST', base, {
    body,
    headers: { 'if-none-match': etag },
  });
  assert.equal(same.status, 304);

  // A toggle on the control plane reaches the relay's evaluations.
  await setEntry({ url: server.url, adminToken: testAdminToken }, ns, 'checkout', {
    value: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    contentType: flagContentType,
  });
  await eventually(
    async () => (await flags.getBooleanDetails('checkout', false, { targetingKey: 'u3' })).reason === 'STATIC',
    { message: 'the relay to evaluate the new release', timeoutMs: 60_000, intervalMs: 200 },
  );

  await server.kill('SIGKILL');
  const afterKill = await flags.getBooleanDetails('checkout', false, { targetingKey: 'u4' });
  assert.deepEqual([afterKill.value, afterKill.variant, afterKill.errorCode], [true, 'on', undefined]);
  const bulkAfter = await call({ url: relay.url, adminToken: clientToken }, 'POST', base, { body });
  assert.equal(bulkAfter.status, 200, bulkAfter.text);
  assert.deepEqual(
    (bulkAfter.json as { flags: Array<{ key: string; value: unknown }> }).flags.map((f) => [f.key, f.value]),
    [['checkout', true]],
  );
  // A fresh provider (a new client process would be the same) starts against the relay alone.
  await OpenFeature.setProviderAndWait('fresh', provider(clientToken));
  assert.equal(await OpenFeature.getClient('fresh').getBooleanValue('checkout', false), true);
});
