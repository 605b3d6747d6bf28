// Staged rollouts end to end (issue 5): a real `herald server` child process, fleets of at least
// 200 SDK instances run by `herald simulate` child processes, and the rollout driven and watched
// through the CLI (`policy set`, `release`, `rollout status --json`, `rollout pause|resume|abort`,
// `rollout freeze|unfreeze`, `fleet --json`, `audit list --json`). Which instances a wave targets
// is computed independently with `isTargeted` from @herald/core, from the attributes the fleet
// reports and the rollout id the release returns.
//
// Nothing here asserts a duration: every wait is a bounded poll (a liveness guard), and the bake
// times are only long enough for a poll to see each wave.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { isTargeted, parsePolicy, type RolloutPolicy } from '@herald/core';
import {
  adminApi,
  eventually,
  fleetAt as fleetAtUrl,
  fleetOf,
  rolloutStatus,
  Simulation as SimulationProcess,
  stagedPolicy as policyDocument,
  startHeraldProcess,
  tempDir,
  testAdminToken,
  type FleetItem,
  type RolloutStatus,
  type ServerProcess,
  type WaveSpec,
} from '@herald/testkit';
import { fails, heraldAt, ok, parseJson } from './helpers.js';

const fleetSize = 200;

// --- types of what the CLI and the API print ------------------------------------------------------

interface HistoryEntry {
  at: number;
  from: string;
  to: string;
  wave: number;
  actor: string;
  reason: string;
}

interface RolloutState {
  id: string;
  state: string;
  wave: number;
  fromSeq: number;
  toSeq: number;
  reason?: string;
  history: HistoryEntry[];
}

interface Release {
  seq: number;
  revision: number;
  kind: string;
  note: string;
  rolloutId?: string;
}

interface AuditRecord {
  seq: number;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

// --- child processes: every one is killed in `after`, whatever happened ----------------------------

const children = new Set<ChildProcess>();

/** The testkit's simulation, tracked so that `after` kills whatever a failed test left running. */
class Simulation extends SimulationProcess {
  constructor(url: string, args: string[]) {
    super(url, args);
    children.add(this.child);
  }

  override async kill(): Promise<void> {
    await super.kill();
    children.delete(this.child);
  }
}
const servers = new Set<ServerProcess>();
const cleanups: Array<() => Promise<void>> = [];

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const running = [...servers];
  servers.clear();
  await Promise.all(running.map((s) => s.kill('SIGKILL')));
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
});

async function startServer(data: string, listen = '127.0.0.1:0'): Promise<ServerProcess> {
  const server = await startHeraldProcess(['server', '--data', data, '--listen', listen, '--log-level', 'error']);
  servers.add(server);
  // A control plane that dies when no test killed it explains the failures that follow.
  void server.exited.then((how) => {
    if (servers.has(server))
      process.stderr.write(`rollout-e2e: the control plane at ${server.url} exited unexpectedly (${String(how)})\n`);
  });
  return server;
}

async function stopServer(server: ServerProcess): Promise<void> {
  servers.delete(server);
  await server.kill('SIGKILL');
}

// --- one control plane per scenario group ---------------------------------------------------------

interface Plane {
  url: string;
  dir: string;
  herald: ReturnType<typeof heraldAt>;
  api<T>(path: string, init?: { method?: string; body?: unknown }): Promise<T>;
}

function planeAt(url: string, dir: string): Plane {
  return {
    url,
    dir,
    herald: heraldAt(url, testAdminToken),
    api: adminApi(url),
  };
}

let shared: Plane;

/** A control plane of one test's own, on a fresh data folder. */
async function ownPlane(
  prefix: string,
): Promise<{ plane: Plane; server: ServerProcess; data: string; stop: () => Promise<void> }> {
  const dir = await tempDir(prefix);
  cleanups.push(dir.cleanup);
  const data = join(dir.path, 'data');
  const server = await startServer(data);
  return { plane: planeAt(server.url, dir.path), server, data, stop: () => stopServer(server) };
}

before(async () => {
  const dir = await tempDir('herald-rollout-e2e-');
  cleanups.push(dir.cleanup);
  const server = await startServer(join(dir.path, 'data'));
  shared = planeAt(server.url, dir.path);
});

/**
 * A namespace with the given staged policy (written as YAML and set with `herald policy set`), the
 * entries set and released (the first release goes to everyone, no rollout), and `instances`
 * simulated instances all on that first release. Returns the policy as the server stored it.
 */
async function stagedNamespace(
  plane: Plane,
  ns: string,
  policy: Record<string, unknown>,
  entries: Record<string, unknown>,
  simulate: string[],
): Promise<{ policy: RolloutPolicy; sim: Simulation; stable: Release }> {
  const { herald } = plane;
  await plane.api('/v1/namespaces', { method: 'POST', body: { name: ns } });
  const file = join(plane.dir, `${ns}-policy.yaml`);
  writeFileSync(file, stringify(policy));
  ok(await herald(['policy', 'set', ns, '-f', file]), 'policy set');
  const stored = parsePolicy(await plane.api(`/v1/namespaces/${ns}/policy`));
  assert.equal(stored.strategy, 'staged');
  for (const [key, value] of Object.entries(entries)) await put(plane, ns, key, value);
  const stable = parseJson<Release>(ok(await herald(['release', ns, '--json']), 'first release'));
  assert.equal(stable.rolloutId, undefined, 'the first release of a namespace goes to everyone, with no rollout');
  // Instance ids are fleet-wide (health is per instance): each scenario's fleet has ids of its own.
  const sim = new Simulation(plane.url, [
    '--ns',
    ns,
    '--instances',
    String(fleetSize),
    '--attr',
    'region=westus,eastus,europe',
    '--prefix',
    `${ns}-sim`,
    ...simulate,
  ]);
  await sim.started();
  await fleetAt(plane, ns, fleetSize, stable.seq);
  return { policy: stored, sim, stable };
}

async function put(plane: Plane, ns: string, key: string, value: unknown): Promise<void> {
  await plane.api(`/v1/namespaces/${ns}/entries/${key}`, { method: 'PUT', body: { value } });
}

async function fleet(plane: Plane, ns: string): Promise<FleetItem[]> {
  return fleetOf(plane.url, ns);
}

/** Waits until `count` instances report, every one applied at `seq`; returns them. */
async function fleetAt(plane: Plane, ns: string, count: number, seq: number, timeoutMs = 45_000): Promise<FleetItem[]> {
  return fleetAtUrl(plane.url, ns, count, seq, timeoutMs);
}

async function cliStatus(plane: Plane, ns: string): Promise<RolloutStatus> {
  return parseJson<RolloutStatus>(ok(await plane.herald(['rollout', 'status', ns, '--json']), 'rollout status'));
}

async function apiStatus(plane: Plane, ns: string): Promise<RolloutStatus> {
  return rolloutStatus(plane.url, ns);
}

async function rolloutHistory(plane: Plane, ns: string): Promise<RolloutState[]> {
  return (await plane.api<{ items: RolloutState[] }>(`/v1/namespaces/${encodeURIComponent(ns)}/rollouts`)).items;
}

async function release(plane: Plane, ns: string, ...flags: string[]): Promise<Release & { rolloutId: string }> {
  const made = parseJson<Release>(ok(await plane.herald(['release', ns, '--json', ...flags]), 'release'));
  assert.ok(made.rolloutId, `a release of a staged namespace starts a rollout: ${JSON.stringify(made)}`);
  return made as Release & { rolloutId: string };
}

/** Instance ids that wave `wave` of the rollout targets, computed here from the attributes the fleet reported. */
function targetedIds(policy: RolloutPolicy, wave: number, rolloutId: string, items: readonly FleetItem[]): Set<string> {
  return new Set(items.filter((i) => isTargeted(policy, wave, rolloutId, i)).map((i) => i.instanceId));
}

/** The wave statuses of a summary are consistent with its wave index. */
function checkWaveList(s: RolloutStatus): void {
  for (const w of s.waves) {
    const expected = s.state === 'succeeded' || w.index < s.wave ? 'done' : w.index === s.wave ? 'current' : 'pending';
    assert.equal(w.status, expected, `wave ${w.index} of a rollout at wave ${s.wave} (${s.state})`);
  }
}

/** history: one start, then one `running → running` advance per wave in order, then the end. */
function checkHistory(history: HistoryEntry[], waves: number, end: string): void {
  const shown = history.map((h) => `${h.from}->${h.to}@${h.wave}`).join(', ');
  const expected = ['none->running@0'];
  for (let wave = 1; wave < waves; wave += 1) expected.push(`running->running@${wave}`);
  expected.push(`running->${end}@${waves - 1}`);
  assert.equal(shown, expected.join(', '), 'the transitions of the rollout, oldest first');
  for (let i = 1; i < history.length; i += 1)
    assert.ok((history[i]?.at ?? 0) >= (history[i - 1]?.at ?? 0), 'history is in time order');
}

/**
 * A bad candidate: released while the simulated fleet rejects (or reports failing on) any view with
 * bad=true. Watches the fleet closely until the rollout ends, then checks that it was rolled back
 * in the first wave, that only first-wave instances ever got the candidate, and that everyone
 * ends on the rollback release with the stable content; prints the figures.
 */
async function badRelease(t: TestContext, ns: string, mode: 'reject' | 'unhealthy'): Promise<void> {
  const waves: WaveSpec[] = [
    { name: 'canary', percent: 10, bake: '2s' },
    { name: 'half', percent: 50, bake: '2s' },
    { name: 'everyone', percent: 100, bake: '1s' },
  ];
  const { policy, sim, stable } = await stagedNamespace(
    shared,
    ns,
    policyDocument(waves),
    { color: 'blue', limit: 10 },
    [mode === 'reject' ? '--reject-when' : '--unhealthy-when', 'bad=true'],
  );
  const before = await fleet(shared, ns);
  const stableDigest = before[0]?.digest;
  assert.ok(stableDigest);

  await put(shared, ns, 'bad', true);
  const candidate = await release(shared, ns, '--note', `bad release (${mode})`);
  const expected = targetedIds(policy, 0, candidate.rolloutId, before);
  assert.ok(expected.size > 0, 'the first wave targets someone');

  // Every instance seen holding the candidate, polled closely until the rollout has ended.
  const seen = new Map<string, FleetItem>();
  const final = await eventually(
    async () => {
      for (const item of await fleet(shared, ns)) if (item.seq === candidate.seq) seen.set(item.instanceId, item);
      const s = await apiStatus(shared, ns);
      assert.ok(s.state === 'running' || s.state === 'rolled_back', `state ${s.state}: ${s.reason ?? ''}`);
      assert.equal(s.wave, 0, 'the bad release never gets past the first wave');
      return s.state === 'rolled_back' && s;
    },
    { message: 'the bad rollout to end', timeoutMs: 45_000, intervalMs: 100, fatal: () => true },
  );
  assert.equal(final.id, candidate.rolloutId);
  assert.match(final.reason ?? '', mode === 'reject' ? /maxRejectRatio/u : /maxUnhealthyRatio/u);
  assert.match(final.reason ?? '', new RegExp(`rolled back to release ${stable.seq}`, 'u'));

  // The rollback: a new release, higher than the candidate, with the stable content, and everyone on it.
  const releases = parseJson<{ items: Release[] }>(
    ok(await shared.herald(['releases', ns, '--json']), 'releases'),
  ).items;
  const rollbackRelease = releases[0];
  assert.ok(
    rollbackRelease && rollbackRelease.seq > candidate.seq,
    `a release after the candidate: ${JSON.stringify(releases[0])}`,
  );
  assert.equal(rollbackRelease.kind, 'rollback');
  assert.equal(rollbackRelease.revision, stable.revision, 'the rollback release has the stable content');
  const after = await fleetAt(shared, ns, fleetSize, rollbackRelease.seq);
  assert.ok(
    after.every((i) => i.digest === stableDigest),
    'every instance holds the stable content again',
  );
  const view = await shared.api<{ values: Record<string, unknown> }>(`/v1/views/${ns}`);
  assert.deepEqual(view.values, { color: 'blue', limit: 10 });
  if (mode === 'unhealthy') {
    await eventually(async () => (await fleet(shared, ns)).every((i) => i.health === 'ok'), {
      message: 'every instance healthy again on the rollback release',
      timeoutMs: 45_000,
      intervalMs: 200,
      fatal: () => true,
    });
  }

  // Who ever got the candidate: seen in the fleet, and counted by the simulator itself.
  await eventually(() => sim.counts(rollbackRelease.seq).applied === fleetSize, {
    message: 'the simulator to print the rollback release',
    timeoutMs: 45_000,
    intervalMs: 200,
    fatal: () => true,
  });
  const counted = sim.counts(candidate.seq);
  for (const id of seen.keys())
    assert.ok(expected.has(id), `${id} got the bad release, yet the first wave does not target it`);
  if (mode === 'reject') {
    assert.equal(counted.applied, 0, 'no instance applied a release it rejects');
    assert.ok([...seen.values()].every((i) => i.status === 'rejected'));
  } else {
    assert.equal(counted.rejected, 0);
  }
  const got = Math.max(counted.applied + counted.rejected, seen.size);
  assert.ok(got >= 1, 'the first wave did get the bad release (else nothing was tested)');
  assert.ok(got <= expected.size, `${got} instances got the bad release; the first wave targets ${expected.size}`);
  t.diagnostic(
    `${mode}: ${got} of ${fleetSize} instances ever got the bad release ${candidate.seq} (${counted.applied} applied, ${counted.rejected} rejected; ${seen.size} seen in the fleet); ` +
      `the first wave (10 %) targets ${expected.size} of ${fleetSize} by bucket; rolled back as release ${rollbackRelease.seq}: ${final.reason ?? ''}`,
  );
  await sim.kill();
}

// --- the scenarios --------------------------------------------------------------------------------

// Scenarios on namespaces of their own (the SIGKILL and the freeze ones on control planes of their own), a few at a time.
void describe('staged rollouts with 200 simulated instances', { concurrency: 3 }, () => {
  void test('a good release goes through every wave and ends with every instance on it', async (t) => {
    const ns = 'good';
    const waves: WaveSpec[] = [
      { name: 'canary', percent: 10, bake: '2s' },
      { name: 'half', percent: 50, bake: '2s' },
      { name: 'everyone', percent: 100, bake: '2s' },
    ];
    const { policy, sim, stable } = await stagedNamespace(shared, ns, policyDocument(waves), { color: 'blue' }, []);
    await put(shared, ns, 'color', 'green');
    const candidate = await release(shared, ns);
    assert.ok(candidate.seq > stable.seq);

    // `rollout status --json` polled as a script would; a close poll of the API beside it, so that
    // every wave is seen even when starting a CLI process takes longer than a wave's bake.
    const sampled: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await apiStatus(shared, ns);
        if (sampled.at(-1) !== s.wave) sampled.push(s.wave);
        if (s.state !== 'running') return;
        await sleep(100);
      }
    })().catch((error: unknown) => error);
    const first = await cliStatus(shared, ns);
    assert.equal(first.id, candidate.rolloutId);
    assert.equal(first.fromSeq, stable.seq);
    assert.equal(first.toSeq, candidate.seq);
    const seenWaves: number[] = [first.wave];
    const final = await eventually(
      async () => {
        const s = await cliStatus(shared, ns);
        assert.ok(s.state === 'running' || s.state === 'succeeded', `state ${s.state}: ${s.reason ?? ''}`);
        checkWaveList(s);
        if (s.state === 'running') {
          const current = s.waves[s.wave];
          assert.equal(current?.targeted, s.observation.targeted, 'the current wave shows its counts');
          const names = s.gates.map((g) => g.name).sort();
          assert.deepEqual(names, ['maxRejectRatio', 'maxUnhealthyRatio', 'minInstances', 'minReportRatio']);
          // While wave w runs, only instances it targets hold the candidate (unless it moved on meanwhile).
          const items = await fleet(shared, ns);
          const targeted = targetedIds(policy, s.wave, s.id, items);
          const outside = items
            .filter((i) => i.seq === candidate.seq && !targeted.has(i.instanceId))
            .map((i) => i.instanceId);
          if (outside.length > 0)
            assert.ok(
              (await apiStatus(shared, ns)).wave > s.wave,
              `${outside.join(', ')} hold the candidate outside wave ${s.wave}`,
            );
        }
        if (seenWaves.at(-1) !== s.wave) seenWaves.push(s.wave);
        return s.state === 'succeeded' && s;
      },
      { message: 'the good rollout to succeed', timeoutMs: 60_000, intervalMs: 300, fatal: () => true },
    );
    sampling = false;
    const samplerError = await sampler;
    assert.equal(samplerError, undefined, 'the API poll failed');
    t.diagnostic(`waves seen by rollout status --json: ${seenWaves.join(' → ')}; by the API: ${sampled.join(' → ')}`);
    assert.deepEqual(
      seenWaves,
      [...seenWaves].sort((a, b) => a - b),
      `the wave index never goes down: ${seenWaves.join(' → ')}`,
    );
    assert.deepEqual(sampled, [0, 1, 2], 'every wave in turn, none skipped');
    assert.equal(final.wave, waves.length - 1);
    assert.ok(final.waves.every((w) => w.status === 'done'));
    const [state] = await rolloutHistory(shared, ns);
    assert.equal(state?.id, candidate.rolloutId);
    checkHistory(state?.history ?? [], waves.length, 'succeeded');

    const items = await fleetAt(shared, ns, fleetSize, candidate.seq);
    assert.equal(items.length, fleetSize);
    assert.equal(sim.counts(candidate.seq).applied, fleetSize, 'the simulator counted every instance on the candidate');
    await sim.kill();
  });

  void test('a bad release (rejected) is rolled back automatically after the first wave', async (t) => {
    await badRelease(t, 'bad-reject', 'reject');
  });

  void test('a bad release (unhealthy) is rolled back automatically after the first wave', async (t) => {
    await badRelease(t, 'bad-health', 'unhealthy');
  });

  void test('SIGKILL of the control plane mid-rollout: the restarted one resumes it where it was', async (t) => {
    const first = await ownPlane('herald-rollout-kill-');
    let { plane, server } = first;
    const port = new URL(server.url).port;
    const ns = 'crash';
    const waves: WaveSpec[] = [
      { name: 'canary', percent: 10, bake: '1s' },
      { name: 'half', percent: 50, bake: '6s' },
      { name: 'everyone', percent: 100, bake: '1s' },
    ];
    const { sim } = await stagedNamespace(plane, ns, policyDocument(waves), { color: 'blue' }, []);
    await put(plane, ns, 'color', 'green');
    const candidate = await release(plane, ns);

    const atKill = await eventually(
      async () => {
        const s = await apiStatus(plane, ns);
        assert.equal(s.state, 'running', s.reason ?? '');
        return s.wave === 1 && s;
      },
      { message: 'wave 1 to bake', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );
    await stopServer(server);
    const killedAt = Date.now();
    t.diagnostic(`killed the control plane at wave ${atKill.wave} with ${atKill.bakeRemainingMs} ms of bake left`);

    server = await startServer(first.data, `127.0.0.1:${port}`);
    const afterRestart = await apiStatus(planeAt(server.url, plane.dir), ns);
    t.diagnostic(
      `restarted in ${Date.now() - killedAt} ms; first status: ${afterRestart.state} at wave ${afterRestart.wave}, ${afterRestart.bakeRemainingMs} ms of bake left (time the controller did not observe is not bake)`,
    );
    assert.equal(afterRestart.id, atKill.id);
    assert.ok(
      afterRestart.wave >= atKill.wave,
      `back to wave ${afterRestart.wave} after the restart (it was at ${atKill.wave})`,
    );
    plane = planeAt(server.url, plane.dir);
    assert.equal(server.url, `http://127.0.0.1:${port}`);
    const waveSeen: number[] = [];
    const final = await eventually(
      async () => {
        const s = await cliStatus(plane, ns);
        assert.equal(s.id, atKill.id, 'the same rollout, not a new one');
        assert.ok(s.wave >= atKill.wave, `back to wave ${s.wave} after the restart (it was at ${atKill.wave})`);
        assert.ok(s.state === 'running' || s.state === 'succeeded', `state ${s.state}: ${s.reason ?? ''}`);
        if (waveSeen.at(-1) !== s.wave) waveSeen.push(s.wave);
        return s.state === 'succeeded' && s;
      },
      { message: 'the resumed rollout to succeed', timeoutMs: 60_000, intervalMs: 300, fatal: () => true },
    );
    assert.equal(final.toSeq, candidate.seq);
    t.diagnostic(`after the restart: waves ${waveSeen.join(' → ')}, then succeeded`);

    const history = await rolloutHistory(plane, ns);
    assert.equal(
      history.filter((r) => r.toSeq === candidate.seq).length,
      1,
      'one rollout of the candidate, never restarted',
    );
    assert.equal(history[0]?.id, atKill.id);
    checkHistory(history[0]?.history ?? [], waves.length, 'succeeded');

    // The simulated fleet kept running across the restart and reconnected by itself.
    assert.ok(sim.alive, 'the simulated fleet is still running');
    await fleetAt(plane, ns, fleetSize, candidate.seq, 60_000);
    await sim.kill();
    await stopServer(server);
  });

  // Issue 19, finding 8: the canaries report ok, the control plane is SIGKILLed, the canaries start
  // failing while it is down (their reports are lost), and it comes back after the bake would have
  // ended. Neither the downtime nor the pre-crash ok reports may pass the wave.
  void test('SIGKILL while the canaries turn unhealthy: the restarted control plane does not pass the wave on stale reports', async (t) => {
    const own = await ownPlane('herald-rollout-stale-');
    let { plane, server } = own;
    const port = new URL(server.url).port;
    const ns = 'stale';
    // The canaries fail 4 s after applying, well inside the 8 s bake: a controller that watched
    // throughout would see it; the question is whether one that was down meanwhile does.
    const waves: WaveSpec[] = [
      { name: 'canary', percent: 10, bake: '8s' },
      { name: 'half', percent: 50, bake: '2s' },
      { name: 'everyone', percent: 100, bake: '1s' },
    ];
    const failAfterMs = 4000;
    const { policy, sim, stable } = await stagedNamespace(plane, ns, policyDocument(waves), { color: 'blue' }, [
      '--unhealthy-when',
      'bad=true',
      '--unhealthy-after',
      String(failAfterMs),
      // Periodic reports far apart: a lost report is not re-sent by the next periodic one in time.
      '--report-interval',
      '120000',
    ]);
    const before = await fleet(plane, ns);
    await put(plane, ns, 'bad', true);
    const candidate = await release(plane, ns, '--note', 'fails a few seconds after applying');
    const releasedAt = Date.now();
    const expected = targetedIds(policy, 0, candidate.rolloutId, before);
    assert.ok(expected.size > 0, 'the first wave targets someone');
    const seen = new Map<string, FleetItem>();
    const watchFleet = async (): Promise<void> => {
      for (const item of await fleet(plane, ns)) if (item.seq === candidate.seq) seen.set(item.instanceId, item);
    };

    // Kill once the canaries' ok reports are in the store (a status flushes the reports).
    const atKill = await eventually(
      async () => {
        await watchFleet();
        const s = await apiStatus(plane, ns);
        assert.equal(s.wave, 0, s.reason ?? '');
        // A loaded machine may be slow enough for the failures to arrive first: then there is nothing to kill for.
        if (s.state === 'rolled_back') return s;
        assert.equal(s.state, 'running', s.reason ?? '');
        return s.observation.applied >= Math.ceil(0.9 * s.observation.targeted) && s;
      },
      { message: 'the canaries to report ok', timeoutMs: 45_000, intervalMs: 100, fatal: () => true },
    );
    if (atKill.state === 'rolled_back')
      t.diagnostic('the failures arrived before the kill: the scenario did not happen');
    await stopServer(server);
    const killedAt = Date.now();
    t.diagnostic(
      `killed ${killedAt - releasedAt} ms after the release: wave ${atKill.wave}, ${atKill.observation.applied} of ${atKill.observation.targeted} applied, ${atKill.observation.unhealthy} unhealthy`,
    );
    // Down until the canaries have turned unhealthy and the bake would long be over.
    await sleep(Math.max(0, releasedAt + failAfterMs + 2000 - Date.now()));
    server = await startServer(own.data, `127.0.0.1:${port}`);
    plane = planeAt(server.url, plane.dir);
    t.diagnostic(`restarted after ${Date.now() - killedAt} ms down`);

    const final = await eventually(
      async () => {
        await watchFleet();
        const s = await apiStatus(plane, ns);
        assert.ok(s.state === 'running' || s.state === 'rolled_back', `state ${s.state}: ${s.reason ?? ''}`);
        assert.equal(s.wave, 0, `the bad release never gets past the first wave: ${s.reason ?? ''}`);
        return s.state === 'rolled_back' && s;
      },
      { message: 'the bad rollout to be rolled back', timeoutMs: 60_000, intervalMs: 100, fatal: () => true },
    );
    assert.match(final.reason ?? '', /maxUnhealthyRatio/u);
    assert.match(final.reason ?? '', new RegExp(`rolled back to release ${stable.seq}`, 'u'));

    const releases = parseJson<{ items: Release[] }>(
      ok(await plane.herald(['releases', ns, '--json']), 'releases'),
    ).items;
    const rollbackRelease = releases[0];
    assert.ok(rollbackRelease && rollbackRelease.seq > candidate.seq && rollbackRelease.kind === 'rollback');
    await fleetAt(plane, ns, fleetSize, rollbackRelease.seq, 60_000);
    await eventually(() => sim.counts(rollbackRelease.seq).applied === fleetSize, {
      message: 'the simulator to print the rollback release',
      timeoutMs: 45_000,
      intervalMs: 200,
      fatal: () => true,
    });
    const counted = sim.counts(candidate.seq);
    for (const id of seen.keys())
      assert.ok(expected.has(id), `${id} got the bad release, yet the first wave does not target it`);
    assert.ok(counted.applied >= 1, 'the first wave did get the bad release (else nothing was tested)');
    assert.ok(
      counted.applied <= expected.size,
      `${counted.applied} instances applied the bad release; the first wave targets ${expected.size}`,
    );
    t.diagnostic(
      `${counted.applied} of ${fleetSize} instances applied the bad release (the first wave targets ${expected.size}); rolled back: ${final.reason ?? ''}`,
    );
    await sim.kill();
    await stopServer(server);
  });

  void test('a release while a rollout runs is refused (rollout_active) unless --supersede', async (t) => {
    const ns = 'supersede';
    const waves: WaveSpec[] = [
      { name: 'canary', percent: 10, bake: '5m' },
      { name: 'everyone', percent: 100, bake: '1s' },
    ];
    const { policy, sim, stable } = await stagedNamespace(
      shared,
      ns,
      policyDocument(waves, { reportDeadline: '10m' }),
      { color: 'blue' },
      [],
    );
    const stableDigest = (await fleet(shared, ns))[0]?.digest;
    await put(shared, ns, 'color', 'green');
    const firstCandidate = await release(shared, ns);
    const firstTargets = targetedIds(policy, 0, firstCandidate.rolloutId, await fleet(shared, ns));
    await eventually(
      async () => {
        const items = await fleet(shared, ns);
        return items.filter((i) => i.seq === firstCandidate.seq).length === firstTargets.size;
      },
      { message: 'the first wave to hold the first candidate', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );

    const refused = fails(await shared.herald(['release', ns]), { line: /rollout_active/u });
    assert.match(refused, /--supersede/u, 'the error says the way out');
    const still = await cliStatus(shared, ns);
    assert.equal(still.id, firstCandidate.rolloutId);
    assert.equal(still.state, 'running');
    assert.equal(
      parseJson<{ items: Release[] }>(ok(await shared.herald(['releases', ns, '--json']))).items[0]?.seq,
      firstCandidate.seq,
      'the refused release made nothing',
    );

    await put(shared, ns, 'color', 'purple');
    const second = await release(shared, ns, '--supersede');
    assert.notEqual(second.rolloutId, firstCandidate.rolloutId);
    const [newest, old] = await rolloutHistory(shared, ns);
    assert.equal(old?.id, firstCandidate.rolloutId);
    assert.equal(old?.state, 'aborted');
    assert.match(old?.reason ?? '', /superseded/u);
    assert.equal(newest?.id, second.rolloutId);
    assert.equal(newest?.state, 'running');
    assert.ok((newest?.fromSeq ?? 0) >= stable.seq);

    // No instance stays on the superseded candidate: the new first wave gets the new candidate, everyone else the stable content.
    const secondTargets = targetedIds(policy, 0, second.rolloutId, await fleet(shared, ns));
    await eventually(
      async () => {
        const items = await fleet(shared, ns);
        return (
          items.length === fleetSize &&
          items.every(
            (i) =>
              i.status === 'applied' &&
              (secondTargets.has(i.instanceId)
                ? i.seq === second.seq
                : i.seq === newest?.fromSeq && i.digest === stableDigest),
          )
        );
      },
      { message: 'the fleet to leave the superseded candidate', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );
    const superseded = sim.counts(firstCandidate.seq);
    t.diagnostic(
      `superseded candidate ${firstCandidate.seq} reached ${superseded.applied} instances (its first wave: ${firstTargets.size}); the new first wave: ${secondTargets.size}`,
    );
    assert.ok(
      superseded.applied <= firstTargets.size,
      `the superseded candidate reached ${superseded.applied} instances, beyond its first wave of ${firstTargets.size}`,
    );

    ok(await shared.herald(['rollout', 'abort', ns, '--reason', 'e2e: done']), 'abort');
    assert.equal((await cliStatus(shared, ns)).state, 'aborted');
    await sim.kill();
  });

  void test('an instance that connects mid-rollout gets the release its bucket and attributes select at that moment', async (t) => {
    const ns = 'late';
    const waves: WaveSpec[] = [
      { name: 'canary', percent: 20, bake: '1s', match: { region: ['westus'] } },
      { name: 'half', percent: 50, bake: '15s' },
      { name: 'everyone', percent: 100, bake: '1s' },
    ];
    const { policy, sim, stable } = await stagedNamespace(shared, ns, policyDocument(waves), { color: 'blue' }, []);
    await put(shared, ns, 'color', 'green');
    const candidate = await release(shared, ns);
    const atStart = await eventually(
      async () => {
        const s = await apiStatus(shared, ns);
        assert.equal(s.state, 'running', s.reason ?? '');
        return s.wave === 1 && s;
      },
      { message: 'wave 1 to start', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );

    const lateCount = 40;
    const late = new Simulation(shared.url, [
      '--ns',
      ns,
      '--instances',
      String(lateCount),
      '--attr',
      'region=westus,eastus,europe',
      '--prefix',
      `${ns}-late`,
    ]);
    await late.started();
    const items = await eventually(
      async () => {
        const all = await fleet(shared, ns);
        const lateOnes = all.filter((i) => i.instanceId.startsWith(`${ns}-late-`));
        return lateOnes.length === lateCount && lateOnes.every((i) => i.status === 'applied') && all;
      },
      { message: 'the late instances to report', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );
    const atCheck = await apiStatus(shared, ns);
    assert.equal(atCheck.state, 'running');
    assert.equal(
      atCheck.wave,
      atStart.wave,
      'still the same wave when the fleet was read (else the check proves nothing)',
    );

    let lateOnCandidate = 0;
    for (const item of items) {
      const targeted = isTargeted(policy, atStart.wave, candidate.rolloutId, item);
      assert.equal(
        item.seq,
        targeted ? candidate.seq : stable.seq,
        `${item.instanceId} (${JSON.stringify(item.attributes)}) ${targeted ? 'is' : 'is not'} targeted by wave ${atStart.wave}`,
      );
      if (item.instanceId.startsWith(`${ns}-late-`) && targeted) lateOnCandidate += 1;
    }
    assert.ok(
      lateOnCandidate > 0 && lateOnCandidate < lateCount,
      `the late instances are split by their buckets (${lateOnCandidate} of ${lateCount} on the candidate)`,
    );
    t.diagnostic(
      `${lateOnCandidate} of ${lateCount} late instances got the candidate at wave ${atStart.wave}, as their buckets select`,
    );

    await eventually(async () => (await apiStatus(shared, ns)).state === 'succeeded', {
      message: 'the rollout to succeed',
      timeoutMs: 60_000,
      intervalMs: 300,
      fatal: () => true,
    });
    await fleetAt(shared, ns, fleetSize + lateCount, candidate.seq);
    await late.kill();
    await sim.kill();
  });

  void test('pause holds the rollout past its bake, resume continues it; freeze halts it, unfreeze lets it go on; all audited', async (t) => {
    // A control plane of its own: a freeze halts every rollout of a control plane.
    const { plane, stop } = await ownPlane('herald-rollout-freeze-');
    const ns = 'pausing';
    // The freeze must land while the second wave bakes: its bake leaves room for a CLI start on a loaded machine.
    const waves: WaveSpec[] = [
      { name: 'canary', percent: 10, bake: '2s' },
      { name: 'half', percent: 50, bake: '12s' },
      { name: 'everyone', percent: 100, bake: '1s' },
    ];
    const { sim } = await stagedNamespace(plane, ns, policyDocument(waves), { color: 'blue' }, []);
    await put(plane, ns, 'color', 'green');
    const candidate = await release(plane, ns);

    const paused = parseJson<{ state: string; wave: number }>(
      ok(
        await plane.herald(['rollout', 'pause', ns, '--reason', 'e2e: pause to look at dashboards', '--json']),
        'pause',
      ),
    );
    assert.equal(paused.state, 'paused');
    const heldWave = paused.wave;
    // Well past the bake of the wave: it stays paused on the same wave, with its bake left unchanged.
    const firstHold = await cliStatus(plane, ns);
    for (let i = 0; i < 4; i += 1) {
      await sleep(1000);
      const s = await apiStatus(plane, ns);
      assert.equal(s.state, 'paused');
      assert.equal(s.wave, heldWave, 'a paused rollout does not advance');
      assert.equal(s.bakeRemainingMs, firstHold.bakeRemainingMs, 'the bake clock stops while paused');
    }
    ok(await plane.herald(['rollout', 'resume', ns, '--reason', 'e2e: dashboards are fine']), 'resume');
    const resumed = await eventually(
      async () => {
        const s = await apiStatus(plane, ns);
        assert.equal(s.state, 'running', s.reason ?? '');
        return s.wave > heldWave && s;
      },
      { message: 'the resumed rollout to advance', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );

    const frozen = parseJson<{ frozen: boolean; rollouts: string[] }>(
      ok(await plane.herald(['rollout', 'freeze', '--reason', 'e2e: incident elsewhere', '--json']), 'freeze'),
    );
    assert.equal(frozen.frozen, true);
    assert.ok(
      frozen.rollouts.includes(candidate.rolloutId),
      `the freeze names the rollout: ${frozen.rollouts.join(', ')}`,
    );
    const frozenAt = (await cliStatus(plane, ns)).wave;
    assert.ok(frozenAt >= resumed.wave);
    for (let i = 0; i < 3; i += 1) {
      await sleep(1000);
      const s = await apiStatus(plane, ns);
      assert.equal(s.state, 'frozen');
      assert.equal(s.wave, frozenAt, 'a frozen rollout does not move');
    }
    // A freeze is an emergency stop, not a pause: resume is refused until unfreeze.
    fails(await plane.herald(['rollout', 'resume', ns]), { line: /frozen/u });
    ok(await plane.herald(['rollout', 'unfreeze', '--reason', 'e2e: incident over']), 'unfreeze');
    await eventually(
      async () => {
        const s = await apiStatus(plane, ns);
        assert.ok(s.state === 'running' || s.state === 'succeeded', `state ${s.state}: ${s.reason ?? ''}`);
        return s.state === 'succeeded';
      },
      { message: 'the unfrozen rollout to succeed', timeoutMs: 45_000, intervalMs: 200, fatal: () => true },
    );
    await fleetAt(plane, ns, fleetSize, candidate.seq);

    // Every transition of this rollout is in the audit log, with who and why.
    const audit = parseJson<{ items: AuditRecord[] }>(
      ok(await plane.herald(['audit', 'list', '--json', '--limit', '1000']), 'audit list'),
    ).items;
    const mine = audit.filter((r) => r.details.rolloutId === candidate.rolloutId);
    const actions = mine.map((r) => r.action);
    t.diagnostic(`audit of ${candidate.rolloutId}: ${actions.join(', ')}`);
    const expectWhy: Array<[string, RegExp]> = [
      ['rollout.start', /./u],
      ['rollout.pause', /e2e: pause to look at dashboards/u],
      ['rollout.resume', /e2e: dashboards are fine/u],
      ['rollout.freeze', /e2e: incident elsewhere/u],
      ['rollout.unfreeze', /e2e: incident over/u],
      ['rollout.succeed', /now stable/u],
    ];
    for (const [action, why] of expectWhy) {
      const record = mine.find((r) => r.action === action);
      assert.ok(record, `${action} is audited (found: ${actions.join(', ')})`);
      if (action !== 'rollout.start') assert.match(String(record.details.reason), why, `${action} says why`);
      assert.match(
        record.actor,
        action === 'rollout.succeed' ? /^controller$/u : /bootstrap admin/u,
        `${action} says who`,
      );
    }
    assert.equal(actions.filter((a) => a === 'rollout.advance').length, waves.length - 1, 'one advance per wave');
    for (const r of mine.filter((x) => x.action === 'rollout.advance'))
      assert.match(String(r.details.reason), /passed/u, 'an advance says why');
    for (const [action, why] of [
      ['rollouts.freeze', /e2e: incident elsewhere/u],
      ['rollouts.unfreeze', /e2e: incident over/u],
    ] as const) {
      assert.ok(
        audit.some(
          (r) => r.action === action && why.test(String(r.details.reason)) && /bootstrap admin/u.test(r.actor),
        ),
        `${action} is audited with who and why`,
      );
    }
    await sim.kill();
    await stop();
  });
});
