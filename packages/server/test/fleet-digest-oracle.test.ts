// Issue 19, finding 2: a digest oracle for secrets. An instance with the secrets right reports the
// digest of its view: an unsalted SHA-256 of the canonical values. On the old code GET /v1/fleet/NS
// showed it to readers, who see every other value and the secret's key, so a 4-digit secret was
// recovered offline by trying 10,000 digests. Nothing a reader gets may carry that digest.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { viewDigest, type ViewValues } from '@herald/core';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry, type RawResponse } from './helpers.js';

const ns = 'vault';

interface SignedView {
  manifest: { seq: number; digest: string; secrets: boolean };
  values: ViewValues;
}

interface FleetAnswer {
  instances: Array<{ instanceId: string; seq: number; status: string; digest?: string }>;
  releases: Array<{ seq: number; applied: number; rejected: number }>;
}

/** Everything a response shows: status, headers (ETags) and body. */
function shown(response: RawResponse): string {
  return `${response.status}\n${[...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${response.text}`;
}

void describe('fleet digest oracle', () => {
  let ts: TestServer;
  let reader: string;
  let plainClient: string;
  let secretDigest: string;
  let seq: number;

  before(async () => {
    ts = await startTestServer();
    await createNamespace(ts, ns);
    await setEntry(ts, ns, 'db/host', { value: 'db.internal' });
    await setEntry(ts, ns, 'db/pin', { value: '4711', secret: true });
    const release = await call(ts, 'POST', `/v1/namespaces/${ns}/releases`, { body: { note: 'pin' } });
    assert.equal(release.status, 201, release.text);
    reader = (await createToken(ts, [{ namespaces: ns, role: 'reader' }])).token;
    plainClient = (await createToken(ts, [{ namespaces: ns, role: 'client' }])).token;
    const secretsClient = (await createToken(ts, [{ namespaces: ns, role: 'client', secrets: true }])).token;

    const view = await call(ts, 'GET', `/v1/views/${ns}`, { token: secretsClient });
    assert.equal(view.status, 200, view.text);
    const signed = view.json as SignedView;
    assert.equal(signed.manifest.secrets, true);
    secretDigest = signed.manifest.digest;
    seq = signed.manifest.seq;

    for (const [instanceId, token, digest] of [
      ['vault-1', secretsClient, secretDigest],
      ['vault-2', plainClient, 'not-a-real-digest'],
    ] as const) {
      const report = await call(ts, 'POST', '/v1/reports', {
        token,
        body: { instanceId, views: [{ namespace: ns, seq, digest, status: 'applied' }] },
      });
      assert.equal(report.status, 202, report.text);
    }
  });

  after(async () => {
    await ts.close();
  });

  void it('the digest of the secrets view is an oracle: the reader values and 10,000 guesses find the secret', async () => {
    // What the test protects against, shown to be real: with the digest, the secret falls at once.
    const seen = (await call(ts, 'GET', `/v1/views/${ns}`, { token: reader })).json as SignedView;
    assert.equal(seen.manifest.secrets, false);
    assert.equal(seen.values['db/pin'], undefined);
    let found: string | undefined;
    for (let n = 0; n < 10_000 && found === undefined; n += 1) {
      const guess = String(n).padStart(4, '0');
      if (viewDigest({ ...seen.values, 'db/pin': guess }) === secretDigest) found = guess;
    }
    assert.equal(found, '4711');
  });

  void it('the fleet tells a reader which release each instance holds and that it applied, but no digest', async () => {
    const response = await call(ts, 'GET', `/v1/fleet/${ns}`, { token: reader });
    assert.equal(response.status, 200, response.text);
    const fleet = response.json as FleetAnswer;
    assert.deepEqual(fleet.instances.map((i) => [i.instanceId, i.seq, i.status, i.digest]).sort(), [
      ['vault-1', seq, 'applied', undefined],
      ['vault-2', seq, 'applied', undefined],
    ]);
    assert.deepEqual(fleet.releases, [{ seq, applied: 2, rejected: 0 }]);
  });

  void it("no route a reader (or a client without secrets) may call shows the secrets view's digest", async () => {
    const paths = [
      `/v1/fleet/${ns}`,
      `/v1/views/${ns}`,
      `/v1/views/${ns}?wait=0`,
      `/v1/namespaces/${ns}`,
      `/v1/namespaces/${ns}/entries`,
      `/v1/namespaces/${ns}/entries/${encodeURIComponent('db/pin')}`,
      `/v1/namespaces/${ns}/history`,
      `/v1/namespaces/${ns}/diff?from=0`,
      `/v1/namespaces/${ns}/releases`,
      `/v1/namespaces/${ns}/rollout`,
      `/v1/namespaces/${ns}/rollouts`,
      `/v1/namespaces/${ns}/policy`,
      '/v1/audit',
      '/metrics',
    ];
    for (const token of [reader, plainClient]) {
      for (const path of paths) {
        const response = await call(ts, 'GET', path, { token });
        assert.ok(response.status < 500, `${path}: ${response.status} ${response.text}`);
        assert.ok(!shown(response).includes(secretDigest), `${path} shows the digest of the secrets view`);
      }
    }
  });

  void it('an admin, who may read the secrets, still sees the digest each instance reported', async () => {
    const response = await call(ts, 'GET', `/v1/fleet/${ns}`);
    assert.equal(response.status, 200, response.text);
    const fleet = response.json as FleetAnswer;
    assert.deepEqual(fleet.instances.map((i) => [i.instanceId, i.digest]).sort(), [
      ['vault-1', secretDigest],
      ['vault-2', 'not-a-real-digest'],
    ]);
  });
});
