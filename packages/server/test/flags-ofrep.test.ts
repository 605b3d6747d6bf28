// OFREP on the control plane, driven by the real clients: @openfeature/server-sdk with
// @openfeature/ofrep-provider, configured with baseUrl {server}/v1/namespaces/{ns} and a bearer
// token, unchanged. Also the raw protocol: the bulk evaluation's ETag and 304, the error shapes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OpenFeature, type Client } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { evaluatorsContentType, flagContentType } from '@herald/flags';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

let ts: TestServer;
let clientToken: string;
const ns = 'ofrep-flags';

const flags: Record<string, unknown> = {
  checkout: {
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    targeting: { if: [{ $ref: 'staff' }, 'on', 'off'] },
  },
  banner: {
    state: 'ENABLED',
    variants: { blue: 'blue', green: 'green' },
    defaultVariant: 'blue',
    targeting: {
      fractional: [
        ['blue', 50],
        ['green', 50],
      ],
    },
    metadata: { owner: 'growth' },
  },
  'limits/rps': { state: 'ENABLED', variants: { low: 10, high: 1000 }, defaultVariant: 'high' },
  theme: { state: 'ENABLED', variants: { dark: { bg: '#000' }, light: { bg: '#fff' } }, defaultVariant: 'dark' },
  retired: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
};

before(async () => {
  ts = await startTestServer();
  await createNamespace(ts, ns);
  await setEntry(ts, ns, '$evaluators', {
    value: { staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
    contentType: evaluatorsContentType,
  });
  for (const [key, value] of Object.entries(flags))
    await setEntry(ts, ns, key, { value, contentType: flagContentType });
  await setEntry(
    ts,
    ns,
    'limits/rps',
    { value: { ...(flags['limits/rps'] as object), defaultVariant: 'low' }, contentType: flagContentType },
    'prod',
  );
  await setEntry(ts, ns, 'hidden', {
    value: { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a' },
    contentType: flagContentType,
    secret: true,
  });
  await setEntry(ts, ns, 'plain', { value: 42 });
  clientToken = (await createToken(ts, [{ namespaces: ns, role: 'client' }])).token;
});

after(async () => {
  await OpenFeature.close();
  await ts.close();
});

async function ofrepClient(domain: string, token: string, headers: Record<string, string> = {}): Promise<Client> {
  const provider = new OFREPProvider({
    baseUrl: `${ts.url}/v1/namespaces/${ns}`,
    headers: { Authorization: `Bearer ${token}`, ...headers },
  });
  await OpenFeature.setProviderAndWait(domain, provider);
  return OpenFeature.getClient(domain);
}

void describe('OFREP through @openfeature/ofrep-provider', () => {
  void it('resolves every type with its variant, reason and metadata, for a client token', async () => {
    const client = await ofrepClient('typed', clientToken);
    const staff = await client.getBooleanDetails('checkout', false, { targetingKey: 'u1', email: 'kim@example.com' });
    assert.deepEqual([staff.value, staff.variant, staff.reason], [true, 'on', 'TARGETING_MATCH']);
    const guest = await client.getBooleanDetails('checkout', true, {
      targetingKey: 'u2',
      email: 'guest@elsewhere.org',
    });
    assert.deepEqual([guest.value, guest.variant, guest.reason], [false, 'off', 'TARGETING_MATCH']);
    const banner = await client.getStringDetails('banner', 'none', { targetingKey: 'user-7' });
    assert.ok(['blue', 'green'].includes(banner.value));
    assert.equal(banner.variant, banner.value);
    assert.equal(banner.reason, 'TARGETING_MATCH');
    assert.deepEqual(banner.flagMetadata, { owner: 'growth' });
    const again = await client.getStringValue('banner', 'none', { targetingKey: 'user-7' });
    assert.equal(again, banner.value, 'the same targeting key lands in the same bucket');
    const rps = await client.getNumberDetails('limits/rps', 0);
    assert.deepEqual([rps.value, rps.variant, rps.reason], [1000, 'high', 'STATIC']);
    const theme = await client.getObjectDetails('theme', {});
    assert.deepEqual([theme.value, theme.variant], [{ bg: '#000' }, 'dark']);
  });

  void it('answers the OpenFeature error codes, with the caller’s default value', async () => {
    const client = await ofrepClient('errors', clientToken);
    const missing = await client.getBooleanDetails('nope', true);
    assert.deepEqual([missing.value, missing.errorCode, missing.reason], [true, 'FLAG_NOT_FOUND', 'ERROR']);
    const notAFlag = await client.getNumberDetails('plain', 1);
    assert.equal(notAFlag.errorCode, 'FLAG_NOT_FOUND');
    const disabled = await client.getBooleanDetails('retired', false);
    assert.deepEqual(
      [disabled.value, disabled.errorCode],
      [false, 'FLAG_NOT_FOUND'],
      'as flagd: a disabled flag is not served',
    );
    const noKey = await client.getStringDetails('banner', 'none');
    assert.deepEqual([noKey.value, noKey.errorCode], ['none', 'TARGETING_KEY_MISSING']);
    const mismatch = await client.getStringDetails('checkout', 'x', { targetingKey: 'u' });
    assert.deepEqual([mismatch.value, mismatch.errorCode], ['x', 'TYPE_MISMATCH']);
  });

  void it('keeps secret flags out unless the token may read secrets', async () => {
    const plainClient = await ofrepClient('no-secrets', clientToken);
    assert.equal((await plainClient.getStringDetails('hidden', 'd')).errorCode, 'FLAG_NOT_FOUND');
    const secretsToken = (await createToken(ts, [{ namespaces: ns, role: 'client', secrets: true }])).token;
    const secretsClient = await ofrepClient('secrets', secretsToken);
    assert.equal(await secretsClient.getStringValue('hidden', 'd'), 'a');
  });

  void it('evaluates the label stack named by the Herald-Labels header', async () => {
    const prod = await ofrepClient('prod', clientToken, { 'Herald-Labels': ',prod' });
    assert.equal(await prod.getNumberValue('limits/rps', 0), 10);
    const checkout = await prod.getBooleanValue('checkout', false, { targetingKey: 'u', email: 'a@example.com' });
    assert.equal(checkout, true, 'flags without a prod version come from the empty label');
  });
});

void describe('OFREP on the wire', () => {
  const base = `/v1/namespaces/${ns}/ofrep/v1/evaluate/flags`;

  void it('answers the bulk evaluation with an ETag, 304 while nothing changed, 200 after a change', async () => {
    const body = { context: { targetingKey: 'u9', email: 'x@example.com' } };
    const first = await call(ts, 'POST', base, { token: clientToken, body });
    assert.equal(first.status, 200, first.text);
    const etag = first.headers.get('etag');
    assert.ok(etag);
    const keys = (first.json as { flags: Array<{ key: string }> }).flags.map((f) => f.key);
    assert.deepEqual(
      keys,
      ['banner', 'checkout', 'limits/rps', 'theme'],
      'enabled flags only; no secrets for this token',
    );
    const same = await call(ts, 'POST', base, { token: clientToken, body, headers: { 'if-none-match': etag } });
    assert.equal(same.status, 304);
    await setEntry(ts, ns, 'theme', {
      value: { ...(flags.theme as object), defaultVariant: 'light' },
      contentType: flagContentType,
    });
    const changed = await call(ts, 'POST', base, { token: clientToken, body, headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get('etag'), etag);
    const theme = (changed.json as { flags: Array<{ key: string; value: unknown }> }).flags.find(
      (f) => f.key === 'theme',
    );
    assert.deepEqual(theme?.value, { bg: '#fff' });
  });

  void it('answers errors in OFREP’s shapes, and refuses callers by the admin API’s rules', async () => {
    const invalid = await call(ts, 'POST', `${base}/checkout`, { token: clientToken, body: { context: 5 } });
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.json, {
      key: 'checkout',
      errorCode: 'INVALID_CONTEXT',
      errorDetails: 'context must be a JSON object',
    });
    const missing = await call(ts, 'POST', `${base}/nope`, { token: clientToken, body: {} });
    assert.equal(missing.status, 404);
    assert.equal((missing.json as { errorCode: string }).errorCode, 'FLAG_NOT_FOUND');
    const withQuery = await call(ts, 'POST', `${base}/limits/rps?label=&label=prod`, { token: clientToken, body: {} });
    assert.equal((withQuery.json as { value: number }).value, 10);
    assert.equal((await call(ts, 'POST', `${base}/checkout`, { token: null, body: {} })).status, 401);
    const other = (await createToken(ts, [{ namespaces: 'elsewhere', role: 'client' }])).token;
    assert.equal((await call(ts, 'POST', `${base}/checkout`, { token: other, body: {} })).status, 403);
  });
});
