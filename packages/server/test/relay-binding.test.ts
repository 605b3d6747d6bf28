// Issue 14 with issue 19's instance binding: an instance that fails over between a relay and the
// control plane stays one record when the relay's credential is a relay's (scope `relay`): the
// reports it forwards bind the instance to the client's own credential. A credential without it
// that names a client stays apart (instance_conflict), and no relay can take another client's id.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { call, createNamespace, createToken } from './helpers.js';

interface FleetAnswer {
  instances: Array<{ instanceId: string; attributes: Record<string, string>; seq: number }>;
}

void describe('instances behind relays are their clients’ own', () => {
  let ts: TestServer;
  let client: { token: string; id: string };
  let other: { token: string; id: string };
  let relay: { token: string; id: string };
  let plain: { token: string; id: string };

  before(async () => {
    ts = await startTestServer();
    await createNamespace(ts, 'app');
    client = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
    other = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
    relay = await createToken(ts, [{ namespaces: 'app', role: 'client', relay: true }]);
    plain = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
  });

  after(async () => {
    await ts.close();
  });

  const report = (seq: number, via: string) => ({
    instanceId: 'web-1',
    attributes: { via },
    views: [{ namespace: 'app', seq, digest: `d${seq}`, status: 'applied' }],
  });
  const direct = async (seq: number) =>
    (await call(ts, 'POST', '/v1/reports', { token: client.token, body: report(seq, 'direct') })).status;
  const forwarded = async (by: { token: string }, reporter: string, seq: number) => {
    const answer = await call(ts, 'POST', '/v1/reports/batch', {
      token: by.token,
      body: { reports: [{ ...report(seq, 'relay'), reporter }] },
    });
    assert.equal(answer.status, 202, answer.text);
    return ((answer.json as { refused?: Array<{ code: string }> }).refused ?? []).map((r) => r.code);
  };
  const fleet = async () => ((await call(ts, 'GET', '/v1/fleet/app')).json as FleetAnswer).instances;

  void it('direct, then through a relay, then direct again: one record, the newest report', async () => {
    assert.equal(await direct(1), 202);
    assert.deepEqual(await forwarded(relay, client.id, 2), [], 'the relay speaks for its client');
    const [record, ...rest] = await fleet();
    assert.deepEqual(rest, []);
    assert.equal(record?.seq, 2);
    assert.deepEqual(record?.attributes, { via: 'relay' });
    assert.equal(await direct(3), 202, 'failing back to the control plane is the same instance');
    assert.equal((await fleet())[0]?.seq, 3);
  });

  void it('a credential that is not a relay’s, or a relay naming another client, cannot take the instance', async () => {
    assert.deepEqual(await forwarded(plain, client.id, 4), ['instance_conflict']);
    assert.deepEqual(await forwarded(relay, other.id, 4), ['instance_conflict']);
    const [record] = await fleet();
    assert.equal(record?.seq, 3, 'nothing changed the record');
  });
});
