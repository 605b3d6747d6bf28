// A relay's own listener over HTTPS with mutual TLS (issue 19): client certificates issued by the
// configured CA are mapped to scopes by the relay with the control plane's own code
// (client-certificates.ts), so an SDK with a certificate and no token gets a view verified against
// the control plane's pinned keys through the relay, and its reports reach the fleet upstream;
// no certificate, one of another CA and an unmapped one are refused with the control plane's
// codes. Certificates are made by openssl (testkit makeTestPki); the servers are real, on loopback.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { PublicKeyInfo } from '@herald/core';
import { HeraldClient, tlsFetch, type ClientTlsOptions } from '@herald/sdk';
import { Relay } from '@herald/server';
import {
  eventually,
  makeTestPki,
  startTestServer,
  tempDir,
  type TestCertificate,
  type TestPki,
  type TestServer,
} from '@herald/testkit';
import { call as plainCall, createNamespace, createToken, setEntry } from './helpers.js';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
let dir: { path: string; cleanup: () => Promise<void> };
let pki: TestPki;
let ts: TestServer;
let relay: Relay;
let keys: PublicKeyInfo[];

/** One request to the relay over TLS, with a client certificate when given. */
async function relayCall(
  path: string,
  cert?: TestCertificate,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const tls: ClientTlsOptions = { ca: pki.ca.cert, ...(cert ? { cert: cert.cert, key: cert.key } : {}) };
  const response = await tlsFetch(tls)(new URL(path, relay.url));
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

before(async () => {
  dir = await tempDir();
  pki = await makeTestPki(dir.path);
  ts = await startTestServer();
  for (const name of ['pay', 'other']) {
    await createNamespace(ts, name);
    await setEntry(ts, name, 'greeting', { value: `hello ${name}` });
  }
  keys = ((await plainCall(ts, 'GET', '/v1/keys', { token: null })).json as { keys: PublicKeyInfo[] }).keys;
  const relayToken = await createToken(ts, [{ namespaces: '*', role: 'client' }]);
  relay = new Relay({
    upstream: ts.url,
    token: relayToken.token,
    trust: keys,
    cacheDir: dir.path + '/relay-cache',
    logLevel: 'silent',
    logStream: silent,
    routeWaitSeconds: 1,
    reportFlushMs: 100,
    tls: {
      cert: pki.server.cert,
      key: pki.server.key,
      clientCa: pki.ca.cert,
      clientIdentities: [
        { match: { uri: 'spiffe://herald/ns/pay/*' }, scopes: [{ namespaces: 'pay', role: 'client' }] },
      ],
    },
  });
  await relay.listen();
});

after(async () => {
  await relay.close();
  await ts.close();
  await dir.cleanup();
});

void describe('a relay listener with mutual TLS', () => {
  void it('serves HTTPS and maps a verified client certificate to the scopes of its identity', async () => {
    assert.match(relay.url, /^https:\/\//u);
    const who = await relayCall('/v1/whoami', pki.spiffeClient);
    assert.equal(who.status, 200, JSON.stringify(who.body));
    assert.equal(who.body.name, 'spiffe://herald/ns/pay/agent-1');
    assert.deepEqual(who.body.scopes, [{ namespaces: 'pay', role: 'client' }]);
    const view = await relayCall('/v1/views/pay', pki.spiffeClient);
    assert.equal(view.status, 200, JSON.stringify(view.body));
    const outside = await relayCall('/v1/views/other', pki.spiffeClient);
    assert.equal(outside.status, 403, 'a namespace outside its scopes');
    assert.equal(outside.body.code, 'forbidden');
  });

  void it('refuses no certificate, one of another CA and an unmapped one with the control plane’s codes', async () => {
    const cases: Array<[TestCertificate | undefined, string]> = [
      [undefined, 'unauthenticated'],
      [pki.foreignClient, 'certificate_untrusted'],
      [pki.expiredClient, 'certificate_untrusted'],
      [pki.unmappedClient, 'certificate_unmapped'],
    ];
    for (const [cert, code] of cases) {
      const answer = await relayCall('/v1/views/pay', cert);
      assert.equal(answer.status, 401, `${code}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.code, code);
    }
  });

  void it('lets the SDK watch through it with a certificate and no token: a verified view, a report upstream', async () => {
    const client = new HeraldClient({
      url: relay.url,
      tls: { cert: pki.spiffeClient.cert, key: pki.spiffeClient.key, ca: pki.ca.cert },
      instanceId: 'agent-1',
      views: [{ namespace: 'pay' }],
      // Pinned to the control plane's keys: what the relay serves verifies against them, or is refused.
      trustedKeys: keys,
    });
    try {
      await client.start();
      await client.ready({ signal: AbortSignal.timeout(20_000) });
      assert.equal(client.get('pay', 'greeting'), 'hello pay');
      const fleet = await eventually(
        async () => {
          const answer = await plainCall(ts, 'GET', '/v1/fleet/pay');
          const instances = (answer.json as { instances: Array<{ instanceId: string; status: string }> }).instances;
          return instances.find((i) => i.instanceId === 'agent-1' && i.status === 'applied');
        },
        { message: "the relay's certificate client in the fleet upstream", timeoutMs: 30_000, intervalMs: 100 },
      );
      assert.equal(fleet.status, 'applied');
    } finally {
      await client.close();
    }
  });
});
