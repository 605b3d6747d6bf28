// Issue 19, finding 1 and instance identity: a report changes only the records of the namespaces
// its credential may watch, and an instance id belongs, in each namespace, to the credential that
// first reported it. On the old code a reader of b set an instance of a to failing (and moved a's
// rollout) with a report that had no views, and any token could report as any instance.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Relay } from '@herald/server';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken } from './helpers.js';

interface FleetItem {
  instanceId: string;
  attributes: Record<string, string>;
  seq: number;
  status: string;
  health: string;
}

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

async function fleet(ts: TestServer, ns: string): Promise<FleetItem[]> {
  const response = await call(ts, 'GET', `/v1/fleet/${ns}`);
  assert.equal(response.status, 200, response.text);
  return (response.json as { instances: FleetItem[] }).instances;
}

function report(instanceId: string, namespace: string | undefined, extra: Record<string, unknown> = {}) {
  return {
    instanceId,
    attributes: { region: 'eu' },
    health: { status: 'ok' },
    ...(namespace === undefined ? {} : { views: [{ namespace, seq: 1, digest: 'd1', status: 'applied' }] }),
    ...extra,
  };
}

void describe('report hijack', () => {
  let ts: TestServer;
  let clientOfA: { token: string; id: string };
  let otherClientOfA: { token: string; id: string };
  let readerOfB: { token: string; id: string };

  before(async () => {
    ts = await startTestServer();
    await createNamespace(ts, 'a');
    await createNamespace(ts, 'b');
    clientOfA = await createToken(ts, [{ namespaces: 'a', role: 'client' }]);
    otherClientOfA = await createToken(ts, [{ namespaces: 'a', role: 'client' }]);
    readerOfB = await createToken(ts, [{ namespaces: 'b', role: 'reader' }]);
    const first = await call(ts, 'POST', '/v1/reports', { token: clientOfA.token, body: report('web-17', 'a') });
    assert.equal(first.status, 202, first.text);
  });

  after(async () => {
    await ts.close();
  });

  const unchanged = async () =>
    assert.deepEqual(
      (await fleet(ts, 'a'))
        .filter((i) => i.instanceId === 'web-17')
        .map((i) => [i.instanceId, i.attributes, i.health, i.seq, i.status]),
      [['web-17', { region: 'eu' }, 'ok', 1, 'applied']],
    );

  void it("a reader of b reporting an instance of a with no views changes nothing of a's record", async () => {
    // The reproduction of the finding, as it was sent.
    const response = await call(ts, 'POST', '/v1/reports', {
      token: readerOfB.token,
      body: { instanceId: 'web-17', attributes: { region: 'hijacked' }, health: { status: 'failing' } },
    });
    assert.equal(response.status, 202, response.text);
    await unchanged();
  });

  void it('a reader of b reporting views of a is refused (403) and changes nothing', async () => {
    const response = await call(ts, 'POST', '/v1/reports', {
      token: readerOfB.token,
      body: report('web-17', 'a', { health: { status: 'failing' }, attributes: { region: 'hijacked' } }),
    });
    assertProblem(response, 'forbidden');
    const batch = await call(ts, 'POST', '/v1/reports/batch', {
      token: readerOfB.token,
      body: { reports: [report('web-17', 'a', { health: { status: 'failing' } })] },
    });
    assertProblem(batch, 'forbidden');
    await unchanged();
  });

  void it("a reader of b reporting the same id for b makes b's record only", async () => {
    const response = await call(ts, 'POST', '/v1/reports', {
      token: readerOfB.token,
      body: report('web-17', 'b', { health: { status: 'failing' }, attributes: { region: 'hijacked' } }),
    });
    assert.equal(response.status, 202, response.text);
    assert.deepEqual(
      (await fleet(ts, 'b')).map((i) => [i.instanceId, i.attributes, i.health]),
      [['web-17', { region: 'hijacked' }, 'failing']],
    );
    await unchanged();
  });

  void it('another credential reporting as the same instance id is refused with instance_conflict', async () => {
    const response = await call(ts, 'POST', '/v1/reports', {
      token: otherClientOfA.token,
      body: report('web-17', 'a', { health: { status: 'failing' }, attributes: { region: 'hijacked' } }),
    });
    const problem = assertProblem(response, 'instance_conflict');
    assert.match(problem.detail, /web-17/u);
    await unchanged();
    // In a batch the conflicting report is left out and named; the others are taken.
    const batch = await call(ts, 'POST', '/v1/reports/batch', {
      token: otherClientOfA.token,
      body: { reports: [report('web-17', 'a', { health: { status: 'failing' } }), report('web-18', 'a')] },
    });
    assert.equal(batch.status, 202, batch.text);
    assert.deepEqual(batch.json, {
      accepted: 1,
      refused: [{ index: 0, instanceId: 'web-17', code: 'instance_conflict' }],
    });
    assert.deepEqual(
      (await fleet(ts, 'a')).map((i) => [i.instanceId, i.health]),
      [
        ['web-17', 'ok'],
        ['web-18', 'ok'],
      ],
    );
    const metrics = (await call(ts, 'GET', '/metrics')).text;
    assert.match(metrics, /herald_instance_refusals_total\{code="instance_conflict"\} 2/u);
    // Its owner goes on reporting.
    const owner = await call(ts, 'POST', '/v1/reports', {
      token: clientOfA.token,
      body: report('web-17', 'a', { health: { status: 'degraded' } }),
    });
    assert.equal(owner.status, 202, owner.text);
    assert.equal((await fleet(ts, 'a')).find((i) => i.instanceId === 'web-17')?.health, 'degraded');
    await call(ts, 'POST', '/v1/reports', { token: clientOfA.token, body: report('web-17', 'a') });
  });

  void it("a batch cannot name another token's reporter to take its instances: the batch's own token comes first", async () => {
    const batch = await call(ts, 'POST', '/v1/reports/batch', {
      token: otherClientOfA.token,
      body: { reports: [{ ...report('web-17', 'a', { health: { status: 'failing' } }), reporter: clientOfA.id }] },
    });
    assert.equal(batch.status, 202, batch.text);
    assert.deepEqual((batch.json as { refused?: Array<{ code: string }> }).refused?.[0]?.code, 'instance_conflict');
    await unchanged();
  });

  void it("through a relay the instance is bound to the relay's token and its client's, each checked", async () => {
    const relayToken = await createToken(ts, [{ namespaces: 'a', role: 'client' }]);
    const cache = await tempDir('herald-relay-');
    const relay = new Relay({
      upstream: ts.url,
      token: relayToken.token,
      trust: 'tofu',
      cacheDir: cache.path,
      logLevel: 'silent',
      logStream: silent,
      reportFlushMs: 50,
    });
    try {
      const relayUrl = await relay.listen();
      const viaRelay = { url: relayUrl, adminToken: '' };
      // The relay checks its client's token: a reader of b may not report views of a through it.
      assertProblem(
        await call(viaRelay, 'POST', '/v1/reports', { token: readerOfB.token, body: report('edge-1', 'a') }),
        'forbidden',
      );
      const accepted = await call(viaRelay, 'POST', '/v1/reports', {
        token: clientOfA.token,
        body: report('edge-1', 'a'),
      });
      assert.equal(accepted.status, 202, accepted.text);
      await eventually(async () => (await fleet(ts, 'a')).some((i) => i.instanceId === 'edge-1'), {
        message: 'the relay forwards the report',
      });
      assert.deepEqual(await ts.store.instanceOwners('edge-1'), [
        { namespace: 'a', reporter: `${relayToken.id}/${clientOfA.id}` },
      ]);
      // Another client of the same relay reporting as edge-1 changes nothing of it.
      const other = await call(viaRelay, 'POST', '/v1/reports', {
        token: otherClientOfA.token,
        body: report('edge-1', 'a', { health: { status: 'failing' } }),
      });
      assert.equal(other.status, 202, other.text);
      await relay.close();
      assert.equal((await fleet(ts, 'a')).find((i) => i.instanceId === 'edge-1')?.health, 'ok');
    } finally {
      await relay.close();
      await cache.cleanup();
    }
  });
});
