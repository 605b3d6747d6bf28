// Issue 13: an SDK instance that closes says so (its last report has `leaving: true`) and leaves
// the fleet at once, not after the instance TTL; a leaving report removes only the records its own
// credential owns; relays pass it upstream. Real SDK clients against a real server and relay.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { HeraldClient } from '@herald/sdk';
import { Relay } from '@herald/server';
import { eventually, startTestServer, tempDir, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken, setEntry } from './helpers.js';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

async function fleetIds(ts: TestServer, ns: string): Promise<string[]> {
  const response = await call(ts, 'GET', `/v1/fleet/${ns}`);
  assert.equal(response.status, 200, response.text);
  return (response.json as { instances: Array<{ instanceId: string }> }).instances.map((i) => i.instanceId).sort();
}

function report(instanceId: string, extra: Record<string, unknown> = {}) {
  return {
    instanceId,
    health: { status: 'ok' },
    views: [{ namespace: 'leave', seq: 1, digest: 'd1', status: 'applied' }],
    ...extra,
  };
}

void describe('an instance that closes leaves the fleet', () => {
  let ts: TestServer;
  let client: { token: string; id: string };
  let otherClient: { token: string; id: string };

  before(async () => {
    ts = await startTestServer();
    await createNamespace(ts, 'leave');
    await setEntry(ts, 'leave', 'greeting', { value: 'hello' });
    client = await createToken(ts, [{ namespaces: 'leave', role: 'client' }]);
    otherClient = await createToken(ts, [{ namespaces: 'leave', role: 'client' }]);
  });

  after(async () => {
    await ts.close();
  });

  function sdk(instanceId: string): HeraldClient {
    return new HeraldClient({
      url: ts.url,
      token: client.token,
      instanceId,
      views: [{ namespace: 'leave', labels: [''] }],
      trustedKeys: 'tofu',
    });
  }

  void it('close() removes the instance at once; another instance of the namespace stays', async () => {
    const leaving = sdk('leaves-1');
    const staying = sdk('stays-1');
    try {
      await Promise.all([leaving.start(), staying.start()]);
      await Promise.all([leaving.ready(), staying.ready()]);
      await eventually(async () => (await fleetIds(ts, 'leave')).join() === 'leaves-1,stays-1', {
        message: 'both instances to report',
      });
      await leaving.close();
      // No clock moves and no waiting: the fleet flushes what was reported before it answers.
      assert.deepEqual(await fleetIds(ts, 'leave'), ['stays-1']);
      assert.deepEqual(await ts.store.instanceOwners('leaves-1'), []);
    } finally {
      await leaving.close();
      await staying.close();
    }
    assert.deepEqual(await fleetIds(ts, 'leave'), []);
  });

  void it("a leaving report of another credential's instance removes nothing", async () => {
    const first = await call(ts, 'POST', '/v1/reports', { token: client.token, body: report('owned-1') });
    assert.equal(first.status, 202, first.text);
    const foreign = await call(ts, 'POST', '/v1/reports', {
      token: otherClient.token,
      body: report('owned-1', { leaving: true }),
    });
    assert.equal(foreign.status, 202, foreign.text);
    assert.deepEqual(await fleetIds(ts, 'leave'), ['owned-1']);
    // Its owner's leaving report removes it; a later report brings it back.
    const own = await call(ts, 'POST', '/v1/reports', {
      token: client.token,
      body: report('owned-1', { leaving: true }),
    });
    assert.equal(own.status, 202, own.text);
    assert.deepEqual(await fleetIds(ts, 'leave'), []);
    const back = await call(ts, 'POST', '/v1/reports', { token: client.token, body: report('owned-1') });
    assert.equal(back.status, 202, back.text);
    assert.deepEqual(await fleetIds(ts, 'leave'), ['owned-1']);
    const gone = await call(ts, 'POST', '/v1/reports', {
      token: client.token,
      body: report('owned-1', { leaving: true }),
    });
    assert.equal(gone.status, 202, gone.text);
  });

  void it('a relay passes a leaving report upstream', async () => {
    const relayToken = await createToken(ts, [{ namespaces: 'leave', role: 'client' }]);
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
      const viaRelay = { url: await relay.listen(), adminToken: '' };
      for (const id of ['edge-1', 'edge-2']) {
        const sent = await call(viaRelay, 'POST', '/v1/reports', { token: client.token, body: report(id) });
        assert.equal(sent.status, 202, sent.text);
      }
      await eventually(async () => (await fleetIds(ts, 'leave')).join() === 'edge-1,edge-2', {
        message: 'the relay to forward the reports',
      });
      const left = await call(viaRelay, 'POST', '/v1/reports', {
        token: client.token,
        body: report('edge-1', { leaving: true }),
      });
      assert.equal(left.status, 202, left.text);
      await eventually(async () => (await fleetIds(ts, 'leave')).join() === 'edge-2', {
        message: 'the relay to forward the leaving report',
      });
    } finally {
      await relay.close();
      await cache.cleanup();
    }
  });
});
