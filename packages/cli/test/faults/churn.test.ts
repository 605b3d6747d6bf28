// A fleet that keeps changing (issue 14): `herald simulate --churn` replaces a share of the fleet
// (instances leave, saying so, and new ids take their slots) all through staged rollouts. A good
// release must go through every wave with no false rollback (an instance that leaves is not a
// missing report; one that joins gets its bucket's release and counts from then on); a bad one
// (rejected) must be rolled back with no instance outside the first wave ever holding it.
// HERALD_CHURN_ROUNDS rounds (default 1) of a good then a bad release; prints one line of JSON.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { isTargeted, parsePolicy } from '@herald/core';
import { eventually, spawnHerald, startHeraldProcess, tempDir, testAdminToken } from '@herald/testkit';

const rounds = Number(process.env.HERALD_CHURN_ROUNDS ?? '1');
const fleetSize = 100;
const ns = 'churn';

interface Rollout {
  id: string;
  state: string;
  reason?: string;
}
interface Fleet {
  instances: Array<{ instanceId: string; attributes: Record<string, string>; seq: number; status: string }>;
}

void test(`rollouts through a fleet that keeps changing (${rounds} rounds, 10 % replaced every 2 s)`, async () => {
  const dir = await tempDir('herald-churn-');
  const server = await startHeraldProcess(['server', '--data', join(dir.path, 'data'), '--listen', '127.0.0.1:0']);
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(new URL(path, server.url), {
      method,
      headers: { authorization: `Bearer ${testAdminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const figures = { suite: 'fault-churn', rounds, fleet: fleetSize, good: 0, falseRollbacks: 0, bad: 0, escaped: 0 };
  let sim: ReturnType<typeof spawnHerald> | undefined;
  try {
    await api('POST', '/v1/namespaces', { name: ns });
    await api('PUT', `/v1/namespaces/${ns}/entries/color`, { value: 'blue' });
    // The first release goes to everyone (immediate policy); the staged policy then governs the rest.
    const policy = parsePolicy(
      await api('PUT', `/v1/namespaces/${ns}/policy`, {
        strategy: 'staged',
        waves: [
          { name: 'canary', percent: 10, bake: '4s' },
          { name: 'half', percent: 50, bake: '4s' },
          { name: 'everyone', percent: 100, bake: '1s' },
        ],
        gates: { minReportRatio: 0.8, maxRejectRatio: 0, maxUnhealthyRatio: 0.05, reportDeadline: '60s' },
        autoRollback: true,
      }),
    );
    sim = spawnHerald(
      [
        'simulate',
        '--ns',
        ns,
        '--instances',
        String(fleetSize),
        '--attr',
        'region=west,east',
        '--report-interval',
        '1000',
        '--reject-when',
        'color=bad',
        '--churn',
        `${fleetSize / 10}/2000`,
      ],
      { HERALD_URL: server.url, HERALD_TOKEN: testAdminToken },
    );
    await sim.waitForLine((l) => l.includes('simulating'), { timeoutMs: 60_000 });
    const finished = async (id: string) =>
      eventually(
        async () => {
          const { rollout } = await api<{ rollout: Rollout | null }>('GET', `/v1/namespaces/${ns}/rollout`);
          return (
            rollout?.id === id && ['succeeded', 'rolled_back', 'paused', 'aborted'].includes(rollout.state) && rollout
          );
        },
        { message: 'the rollout to end', timeoutMs: 180_000, intervalMs: 250 },
      );
    for (let round = 0; round < rounds; round += 1) {
      await api('PUT', `/v1/namespaces/${ns}/entries/color`, { value: `green-${round}` });
      const good = await api<{ rolloutId: string }>('POST', `/v1/namespaces/${ns}/releases`, {});
      const goodEnd = await finished(good.rolloutId);
      if (goodEnd.state === 'succeeded') figures.good += 1;
      else figures.falseRollbacks += 1;
      assert.equal(goodEnd.state, 'succeeded', `a good release under churn: ${goodEnd.reason ?? ''}`);

      await api('PUT', `/v1/namespaces/${ns}/entries/color`, { value: 'bad' });
      const bad = await api<{ rolloutId: string; seq: number }>('POST', `/v1/namespaces/${ns}/releases`, {});
      const badEnd = await finished(bad.rolloutId);
      assert.equal(badEnd.state, 'rolled_back', `a bad release under churn: ${badEnd.reason ?? ''}`);
      figures.bad += 1;
      const fleet = await api<Fleet>('GET', `/v1/fleet/${ns}`);
      const escaped = fleet.instances.filter(
        (i) =>
          i.seq === bad.seq &&
          !isTargeted(policy, 0, bad.rolloutId, { instanceId: i.instanceId, attributes: i.attributes }),
      );
      figures.escaped += escaped.length;
      assert.deepEqual(
        escaped.map((i) => i.instanceId),
        [],
        'only the first wave ever held the bad release',
      );
    }
    console.log(JSON.stringify(figures));
  } finally {
    await sim?.stop('SIGKILL');
    await server.kill('SIGKILL');
    await dir.cleanup();
  }
});
