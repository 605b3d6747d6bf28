// Issue 19, finding 6 (instance growth): instance records not seen within the TTL are deleted by
// the leader's pruning (on the injected clock), and a namespace holds at most
// maxInstancesPerNamespace of them (instance_limit, with a metric). On the old code rows were
// never deleted and one token could create as many as it liked.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '@herald/core';
import { eventually, startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken } from './helpers.js';

const ttlMs = 60_000;
const pruneMs = 10_000;

function report(instanceId: string) {
  return { instanceId, views: [{ namespace: 'app', seq: 1, digest: 'd1', status: 'applied' }] };
}

void describe('instance pruning and the per-namespace cap', () => {
  let ts: TestServer;
  let clock: ManualClock;
  let client: { token: string; id: string };

  before(async () => {
    clock = new ManualClock();
    ts = await startTestServer({
      clock,
      config: { instanceTtlMs: ttlMs, instancePruneMs: pruneMs, maxInstancesPerNamespace: 3 },
    });
    await createNamespace(ts, 'app');
    client = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
  });

  after(async () => {
    await ts.close();
  });

  const send = (instanceId: string, token = client.token) =>
    call(ts, 'POST', '/v1/reports', { token, body: report(instanceId) });
  const fleetIds = async () =>
    ((await call(ts, 'GET', '/v1/fleet/app')).json as { instances: Array<{ instanceId: string }> }).instances.map(
      (i) => i.instanceId,
    );

  void it('refuses a new instance past the cap with instance_limit; known ones go on reporting', async () => {
    for (const id of ['i-1', 'i-2', 'i-3']) assert.equal((await send(id)).status, 202);
    const refused = await send('i-4');
    const problem = assertProblem(refused, 'instance_limit');
    assert.match(problem.detail, /maxInstancesPerNamespace/u);
    assert.equal((await send('i-1')).status, 202);
    assert.deepEqual(await fleetIds(), ['i-1', 'i-2', 'i-3']);
    assert.equal(await ts.store.countInstances('app'), 3);
    assert.match(
      (await call(ts, 'GET', '/metrics')).text,
      /herald_instance_refusals_total\{code="instance_limit"\} 1/u,
    );
  });

  void it('deletes the records not seen within the TTL, and the freed room and ids are usable again', async () => {
    clock.advance(ttlMs / 2);
    assert.equal((await send('i-1')).status, 202);
    await call(ts, 'GET', '/v1/fleet/app'); // writes the buffered report
    // i-2 and i-3 were last seen ttlMs + pruneMs ago, i-1 only half that.
    // One pruning interval at a time, each pruning let finish before the next (they would share one pass).
    for (let t = 0; t < ttlMs / 2 + pruneMs; t += pruneMs) {
      clock.advance(pruneMs);
      await call(ts, 'GET', '/healthz');
    }
    await eventually(async () => (await ts.store.countInstances('app')) === 1, { message: 'the pruning' });
    assert.deepEqual(await ts.store.instanceOwners('i-2'), []);
    assert.deepEqual(await fleetIds(), ['i-1']);
    assert.match((await call(ts, 'GET', '/metrics')).text, /herald_instances_pruned_total 2/u);
    // Room again, and a pruned id may be claimed by another credential.
    const other = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
    assert.equal((await send('i-2', other.token)).status, 202, 'a pruned id is free');
    assert.equal((await send('i-4')).status, 202);
    assertProblem(await send('i-5'), 'instance_limit');
    assertProblem(await send('i-1', other.token), 'instance_conflict');
    assert.deepEqual(await fleetIds(), ['i-1', 'i-2', 'i-4']);
  });
});
