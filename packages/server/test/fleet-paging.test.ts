// Issue 19, finding 6 (the fleet route at 100,000 instances): the fleet answers its counts from
// the database and its instances all at once or a page at a time, so a console or a script reads
// a large fleet without one answer holding every record.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '@herald/testkit';
import { assertProblem, call, createNamespace, createToken } from './helpers.js';

interface FleetAnswer {
  instances: Array<{ instanceId: string; seq: number; status: string; health: string }>;
  releases: Array<{ seq: number; applied: number; rejected: number }>;
  summary: { instances: number; health: { ok: number; degraded: number; failing: number } };
  next?: string;
}

void describe('the fleet route pages its instances and counts them all', () => {
  let ts: TestServer;

  before(async () => {
    ts = await startTestServer();
    await createNamespace(ts, 'app');
    const client = await createToken(ts, [{ namespaces: 'app', role: 'client' }]);
    const reports = Array.from({ length: 25 }, (_, i) => ({
      instanceId: `i-${String(i).padStart(2, '0')}`,
      views: [
        i % 5 === 0
          ? { namespace: 'app', seq: 2, digest: 'd2', status: 'rejected', reason: 'bad' }
          : { namespace: 'app', seq: i < 10 ? 1 : 2, digest: 'd', status: 'applied' },
      ],
      health: { status: i % 7 === 0 ? 'failing' : 'ok' },
    }));
    assert.equal((await call(ts, 'POST', '/v1/reports/batch', { token: client.token, body: { reports } })).status, 202);
  });

  after(async () => {
    await ts.close();
  });

  const fleet = async (query = '') => {
    const answer = await call(ts, 'GET', `/v1/fleet/app${query}`);
    assert.equal(answer.status, 200, answer.text);
    return answer.json as FleetAnswer;
  };

  void it('walks every instance once, page by page, with the whole fleet counted on each page', async () => {
    const all = await fleet();
    assert.equal(all.instances.length, 25);
    assert.equal(all.next, undefined);
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await fleet(`?limit=10${after === undefined ? '' : `&after=${after}`}`);
      assert.ok(page.instances.length <= 10);
      assert.deepEqual(page.summary, all.summary, 'the counts are of the fleet, not the page');
      assert.deepEqual(page.releases, all.releases);
      seen.push(...page.instances.map((i) => i.instanceId));
      if (page.next === undefined) break;
      after = page.next;
    }
    assert.deepEqual(
      seen,
      all.instances.map((i) => i.instanceId),
    );
  });

  void it('counts by health and by release and status, and answers the counts alone when asked', async () => {
    const counts = await fleet('?instances=false');
    assert.deepEqual(counts.instances, []);
    assert.deepEqual(counts.summary, { instances: 25, health: { ok: 21, degraded: 0, failing: 4 } });
    assert.deepEqual(counts.releases, [
      { seq: 2, applied: 12, rejected: 5 },
      { seq: 1, applied: 8, rejected: 0 },
    ]);
  });

  void it('refuses a page size out of bounds with a catalogue code', async () => {
    assertProblem(await call(ts, 'GET', '/v1/fleet/app?limit=0'), 'invalid_request');
    assertProblem(await call(ts, 'GET', '/v1/fleet/app?limit=10001'), 'invalid_request');
  });
});
