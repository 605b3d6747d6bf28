// The control plane killed during a bake (issue 19, finding 8, as a fault suite): a staged rollout
// of a bad release whose canaries report `applied, ok` and then turn unhealthy a few seconds later;
// the control plane is SIGKILLed (by PID) during the first wave's bake, once the canaries' ok
// reports are in, and restarted on the same data folder and port after the canaries have turned
// unhealthy and the bake would long have ended. The failing reports sent while it was down are
// lost; the restarted controller must neither count its downtime as bake nor pass the wave on the
// reports from before the crash. Checked per cycle: no instance outside the first wave ever got the
// bad release (seen in the fleet, and counted by the simulator itself), the rollout is rolled back,
// and the whole fleet ends on the rollback release. HERALD_BAKE_KILL_CYCLES cycles (default 1),
// HERALD_BAKE_KILL_INSTANCES simulated instances (default 100); prints its figures as one line of JSON.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { isTargeted, parsePolicy } from '@herald/core';
import {
  adminApi,
  eventually,
  fleetAt,
  fleetOf,
  rolloutStatus,
  Simulation,
  stagedPolicy,
  startHeraldProcess,
  tempDir,
  type FleetItem,
  type ServerProcess,
} from '@herald/testkit';

const cycles = positive(process.env.HERALD_BAKE_KILL_CYCLES, 1);
const instances = positive(process.env.HERALD_BAKE_KILL_INSTANCES, 100);
/** The canaries turn unhealthy this long after applying, well inside the first wave's 8 s bake. */
const failAfterMs = 4000;

function positive(text: string | undefined, fallback: number): number {
  if (text === undefined || text === '') return fallback;
  assert.match(text, /^[1-9]\d*$/u, 'must be a positive integer');
  return Number(text);
}

interface Release {
  seq: number;
  revision: number;
  kind: string;
  rolloutId?: string;
}

void test(`a bad release stays in its first wave over ${cycles} control-plane kills during the bake`, async (t) => {
  const dir = await tempDir('herald-bake-kill-');
  t.after(() => dir.cleanup());
  const data = join(dir.path, 'data');
  const start = (listen: string): Promise<ServerProcess> =>
    startHeraldProcess(['server', '--data', data, '--listen', listen, '--log-level', 'error', '--no-ui']);
  let server = await start('127.0.0.1:0');
  const port = new URL(server.url).port;
  const url = server.url;
  const api = adminApi(url);
  const sims: Simulation[] = [];
  t.after(async () => {
    for (const sim of sims) await sim.kill();
    await server.kill('SIGKILL');
  });

  const figures = {
    cycles: 0,
    killsDuringBake: 0,
    failuresBeforeKill: 0,
    firstWaveTargeted: 0,
    gotBadRelease: 0,
    outsideFirstWave: 0,
    rolledBack: 0,
    downMs: [] as number[],
  };
  for (let cycle = 0; cycle < cycles; cycle++) {
    const ns = `bake-kill-${cycle}`;
    await api('/v1/namespaces', { method: 'POST', body: { name: ns } });
    const document = stagedPolicy([
      { name: 'canary', percent: 10, bake: '8s' },
      { name: 'half', percent: 50, bake: '2s' },
      { name: 'everyone', percent: 100, bake: '1s' },
    ]);
    await api(`/v1/namespaces/${ns}/policy`, { method: 'PUT', body: document });
    const policy = parsePolicy(await api(`/v1/namespaces/${ns}/policy`));
    await api(`/v1/namespaces/${ns}/entries/color`, { method: 'PUT', body: { value: 'blue' } });
    const stable = await api<Release>(`/v1/namespaces/${ns}/releases`, { method: 'POST', body: {} });
    const sim = new Simulation(url, [
      '--ns',
      ns,
      '--instances',
      String(instances),
      '--attr',
      'region=westus,eastus,europe',
      '--prefix',
      `${ns}-sim`,
      '--unhealthy-when',
      'bad=true',
      '--unhealthy-after',
      String(failAfterMs),
      // Periodic reports far apart: a report lost while the control plane is down is not re-sent in time by the next one.
      '--report-interval',
      '120000',
    ]);
    sims.push(sim);
    await sim.started();
    const before = await fleetAt(url, ns, instances, stable.seq, 90_000);

    await api(`/v1/namespaces/${ns}/entries/bad`, { method: 'PUT', body: { value: true } });
    const candidate = await api<Release>(`/v1/namespaces/${ns}/releases`, {
      method: 'POST',
      body: { note: 'fails a few seconds after applying' },
    });
    const releasedAt = Date.now();
    assert.ok(candidate.rolloutId, 'a release of a staged namespace starts a rollout');
    const rolloutId = candidate.rolloutId;
    const expected = new Set(before.filter((i) => isTargeted(policy, 0, rolloutId, i)).map((i) => i.instanceId));
    assert.ok(expected.size > 0, 'the first wave targets someone');
    const seen = new Map<string, FleetItem>();
    const watchFleet = async (): Promise<void> => {
      for (const item of await fleetOf(url, ns)) if (item.seq === candidate.seq) seen.set(item.instanceId, item);
    };

    // Kill once the canaries' ok reports are in the store, during the first wave's bake.
    const atKill = await eventually(
      async () => {
        await watchFleet();
        const s = await rolloutStatus(url, ns);
        assert.equal(s.wave, 0, s.reason ?? '');
        // A loaded machine may deliver the failures first: then this cycle has nothing to kill for.
        if (s.state === 'rolled_back') return s;
        assert.equal(s.state, 'running', s.reason ?? '');
        return s.observation.applied >= Math.ceil(0.9 * s.observation.targeted) && s;
      },
      { message: 'the canaries to report ok', timeoutMs: 60_000, intervalMs: 100, fatal: () => true },
    );
    if (atKill.state === 'rolled_back') {
      figures.failuresBeforeKill += 1;
    } else {
      await server.kill('SIGKILL');
      const killedAt = Date.now();
      figures.killsDuringBake += 1;
      // Down until the canaries have turned unhealthy (their reports lost) and the bake would long be over.
      await sleep(Math.max(0, releasedAt + failAfterMs + 2000 - Date.now()));
      server = await start(`127.0.0.1:${port}`);
      figures.downMs.push(Date.now() - killedAt);
    }

    const final = await eventually(
      async () => {
        await watchFleet();
        const s = await rolloutStatus(url, ns);
        assert.ok(s.state === 'running' || s.state === 'rolled_back', `state ${s.state}: ${s.reason ?? ''}`);
        assert.equal(s.wave, 0, `the bad release never gets past the first wave: ${s.reason ?? ''}`);
        return s.state === 'rolled_back' && s;
      },
      { message: 'the bad rollout to be rolled back', timeoutMs: 90_000, intervalMs: 100, fatal: () => true },
    );
    assert.match(final.reason ?? '', /maxUnhealthyRatio/u);
    const { items: releases } = await api<{ items: Release[] }>(`/v1/namespaces/${ns}/releases`);
    const rollback = releases[0];
    assert.ok(rollback && rollback.seq > candidate.seq && rollback.kind === 'rollback', JSON.stringify(rollback));
    assert.equal(rollback.revision, stable.revision, 'the rollback release has the stable content');
    await fleetAt(url, ns, instances, rollback.seq, 90_000);
    await eventually(() => sim.counts(rollback.seq).applied === instances, {
      message: 'the simulator to print the rollback release',
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const counted = sim.counts(candidate.seq);
    const outside = [...seen.keys()].filter((id) => !expected.has(id));
    figures.cycles += 1;
    figures.firstWaveTargeted += expected.size;
    figures.gotBadRelease += Math.max(counted.applied, seen.size);
    figures.outsideFirstWave += outside.length + Math.max(0, counted.applied - expected.size);
    figures.rolledBack += 1;
    assert.deepEqual(outside, [], 'instances outside the first wave that got the bad release');
    assert.ok(counted.applied >= 1, 'the first wave did get the bad release (else nothing was tested)');
    assert.ok(counted.applied <= expected.size, `${counted.applied} applied; the first wave targets ${expected.size}`);
    await sim.kill();
  }
  console.log(JSON.stringify({ suite: 'fault-rollout-kill-during-bake', instances, ...figures }));
  assert.equal(figures.outsideFirstWave, 0);
  assert.equal(figures.rolledBack, cycles);
});
