// Mutual TLS on a real HTTPS server with certificates made by openssl here: a verified client
// certificate without a bearer token is the identity its CN or SAN maps to (through the real SDK
// too); one of another CA, an expired one and an unmapped one get 401 problem+json with their own
// code; a bearer token still works alongside (and wins) on the same connection.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HeraldClient, tlsFetch, type ClientTlsOptions } from '@herald/sdk';
import {
  makeTestPki,
  startTestServer,
  tempDir,
  type TestCertificate,
  type TestPki,
  type TestServer,
} from '@herald/testkit';

let dir: { path: string; cleanup: () => Promise<void> };
let pki: TestPki;
let ts: TestServer;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** One request over TLS: with a client certificate when given, with the admin token when asked. */
async function call(
  path: string,
  options: { cert?: TestCertificate; admin?: boolean; method?: string; body?: unknown } = {},
): Promise<Answer> {
  const tls: ClientTlsOptions = {
    ca: pki.ca.cert,
    ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}),
  };
  const response = await tlsFetch(tls)(new URL(path, ts.url), {
    method: options.method ?? 'GET',
    headers: {
      ...(options.admin ? { authorization: `Bearer ${ts.adminToken}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

function assertRefused(answer: Answer, code: string, message: string): void {
  assert.equal(answer.status, 401, `${message}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.code, code, message);
}

before(async () => {
  dir = await tempDir();
  pki = await makeTestPki(dir.path);
  ts = await startTestServer({
    config: {
      tls: {
        cert: pki.server.cert,
        key: pki.server.key,
        clientCa: pki.ca.cert,
        clientIdentities: [
          { match: { uri: 'spiffe://herald/ns/pay/*' }, scopes: [{ namespaces: 'pay', role: 'client' }] },
          { match: { cn: 'relay-west' }, scopes: [{ namespaces: '*', role: 'reader' }], name: 'relay west' },
        ],
      },
    },
  });
  for (const name of ['pay', 'other']) {
    assert.equal((await call('/v1/namespaces', { admin: true, method: 'POST', body: { name } })).status, 201);
    const commit = await call(`/v1/namespaces/${name}/commits`, {
      admin: true,
      method: 'POST',
      body: { changes: [{ op: 'set', key: 'greeting', value: `hello ${name}` }] },
    });
    assert.equal(commit.status, 201, JSON.stringify(commit.body));
  }
});

after(async () => {
  await ts.close();
  await dir.cleanup();
});

void describe('client certificates', () => {
  void it('authenticate a request without a token as the identity their SAN URI or CN maps to', async () => {
    const spiffe = await call('/v1/whoami', { cert: pki.spiffeClient });
    assert.equal(spiffe.status, 200, JSON.stringify(spiffe.body));
    assert.equal(spiffe.body.name, 'spiffe://herald/ns/pay/agent-1');
    assert.deepEqual(spiffe.body.scopes, [{ namespaces: 'pay', role: 'client' }]);
    assert.match(String(spiffe.body.tokenId), /^cert:[0-9a-f]{16}$/u);

    const relay = await call('/v1/namespaces/pay', { cert: pki.cnClient });
    assert.equal(relay.status, 200, 'a reader may read the namespace');
    const write = await call('/v1/namespaces', { cert: pki.cnClient, method: 'POST', body: { name: 'nope' } });
    assert.equal(write.status, 403, 'and may not create one');
    assert.equal(write.body.code, 'forbidden');
  });

  void it('are refused with their own code when foreign, expired or unmapped; no certificate is unauthenticated', async () => {
    assertRefused(await call('/v1/whoami', { cert: pki.foreignClient }), 'certificate_untrusted', 'another CA');
    assertRefused(await call('/v1/whoami', { cert: pki.expiredClient }), 'certificate_untrusted', 'expired');
    assertRefused(await call('/v1/whoami', { cert: pki.unmappedClient }), 'certificate_unmapped', 'unmapped');
    assertRefused(await call('/v1/whoami'), 'unauthenticated', 'neither certificate nor token');
  });

  void it('leave a bearer token working alongside: the token decides', async () => {
    const created = await call('/v1/namespaces', {
      cert: pki.spiffeClient,
      admin: true,
      method: 'POST',
      body: { name: 'by-token' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // Even a certificate that would be refused does not spoil a valid token.
    assert.equal((await call('/v1/whoami', { cert: pki.foreignClient, admin: true })).status, 200);
  });

  void it('let the SDK watch with a certificate and no token, within the scopes of its identity', async () => {
    const tls = { cert: pki.spiffeClient.cert, key: pki.spiffeClient.key, ca: pki.ca.cert };
    const client = new HeraldClient({
      url: ts.url,
      tls,
      instanceId: 'agent-1',
      views: [{ namespace: 'pay' }],
      trustedKeys: 'tofu',
    });
    try {
      await client.start();
      await client.ready({ signal: AbortSignal.timeout(20_000) });
      assert.equal(client.get('pay', 'greeting'), 'hello pay');
    } finally {
      await client.close();
    }
    const outside = new HeraldClient({
      url: ts.url,
      tls,
      instanceId: 'agent-1b',
      views: [{ namespace: 'other' }],
      trustedKeys: 'tofu',
    });
    try {
      await outside.start();
      await assert.rejects(outside.ready({ signal: AbortSignal.timeout(3000) }));
      assert.equal(outside.get('other', 'greeting'), undefined, 'nothing of a namespace outside its scopes');
    } finally {
      await outside.close();
    }
  });
});
