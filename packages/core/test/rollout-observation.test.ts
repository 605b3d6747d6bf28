import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  bakedMsAt,
  countWave,
  evaluate,
  formatPolicy,
  healthyReportsSince,
  isTargeted,
  mergeWaveObservations,
  observeAgain,
  parsePolicy,
  reportDeadlineAtOf,
  startRollout,
  summarize,
  type ObservationWindow,
  type ReportedInstance,
  type RolloutState,
  type StagedRolloutPolicy,
  type WaveCounts,
  type WaveObservation,
} from '../src/index.js';

/** The counts of a first wave: of everything targeted, and the same of what the wave adds (everything). */
function assertCounts(observation: WaveObservation, expected: WaveCounts): void {
  const { added, ...all } = observation;
  assert.deepEqual(all, expected);
  assert.deepEqual(added, expected, 'a first wave adds every instance it targets');
}

// A manual clock: every time is T0 + seconds, passed in by the test.
const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number): number => T0 + seconds * 1000;

/** canary 10 % baking 10s, half 50 % baking 10s, everyone; any unhealthy fails; deadline 30s. */
function policy(gates: Record<string, unknown> = {}): StagedRolloutPolicy {
  const parsed = parsePolicy({
    strategy: 'staged',
    waves: [
      { name: 'canary', percent: 10, bake: '10s' },
      { name: 'half', percent: 50, bake: '10s' },
      { name: 'everyone', percent: 100, bake: '0s' },
    ],
    gates: { minReportRatio: 0.8, maxRejectRatio: 0, maxUnhealthyRatio: 0, reportDeadline: '30s', ...gates },
    autoRollback: true,
  });
  assert.equal(parsed.strategy, 'staged');
  return parsed;
}

function started(): RolloutState {
  return startRollout({ id: 'ro-obs', namespace: 'payments', fromSeq: 1, toSeq: 2, now: s(0), actor: 'alice' });
}

/** 200 instances; the ones the canary wave targets. */
function canaries(state: RolloutState, p: StagedRolloutPolicy): string[] {
  const ids = Array.from({ length: 200 }, (_, i) => `web-${i}`);
  const picked = ids.filter((id) => isTargeted(p, 0, state.id, { instanceId: id, attributes: {} }));
  assert.ok(picked.length > 5, `the canary wave targets ${picked.length} of 200`);
  return picked;
}

function reported(ids: string[], at: number, health: 'ok' | 'failing', seq = 2): ReportedInstance[] {
  return ids.map((instanceId) => ({
    instanceId,
    attributes: {},
    lastSeen: at,
    health,
    views: [{ seq, status: 'applied' }],
  }));
}

void describe('observation window (observeAgain)', () => {
  void test('a first observation opens a window at now', () => {
    assert.deepEqual(observeAgain(undefined, s(5), 2000), { since: s(5), lastAt: s(5) });
  });

  void test('an observation within the gap carries the window on', () => {
    const window: ObservationWindow = { since: s(1), lastAt: s(4) };
    assert.deepEqual(observeAgain(window, s(6), 2000), { since: s(1), lastAt: s(6) });
  });

  void test('an observation after more than the gap opens a new window', () => {
    const window: ObservationWindow = { since: s(1), lastAt: s(4) };
    assert.deepEqual(observeAgain(window, s(6.001), 2000), { since: s(6.001), lastAt: s(6.001) });
  });

  void test('a clock that went back opens a new window', () => {
    const window: ObservationWindow = { since: s(1), lastAt: s(4) };
    assert.deepEqual(observeAgain(window, s(3), 2000), { since: s(3), lastAt: s(3) });
  });

  void test('refuses a time or gap that is not a finite number', () => {
    assert.throws(() => observeAgain(undefined, Number.NaN, 1000), RangeError);
    assert.throws(() => observeAgain(undefined, s(0), -1), RangeError);
  });
});

void describe('time the controller did not observe is not bake', () => {
  void test('bake counts from observedSince when it is later than the last persisted update', () => {
    const state = started();
    assert.equal(bakedMsAt(state, s(8)), 8000);
    assert.equal(bakedMsAt(state, s(8), s(5)), 3000);
    // A window older than the last update changes nothing.
    assert.equal(bakedMsAt(state, s(8), s(-5)), 8000);
  });

  void test('a controller restarted after the bake would have ended bakes the wave again, from its restart', () => {
    const p = policy();
    const state = started();
    const ids = canaries(state, p);
    // Every canary reported ok after the restart at 20 s: only 20..25 s is bake.
    const fresh = countWave(state, p, reported(ids, s(21), 'ok'), healthyReportsSince(state, p, s(20)));
    const early = evaluate(state, p, fresh, s(25), { observedSince: s(20) });
    assert.equal(early.decision.kind, 'hold');
    assert.equal(early.decision.kind === 'hold' && early.decision.why, 'baking');
    assert.equal(early.decision.kind === 'hold' && early.decision.bakeRemainingMs, 5000);
    assert.equal(early.state, state, 'a hold changes nothing');
    const later = evaluate(state, p, fresh, s(30), { observedSince: s(20) });
    assert.equal(later.decision.kind, 'advance');
    // Without the window, the same call at 25 s would have passed on time nobody watched.
    assert.equal(evaluate(state, p, fresh, s(25)).decision.kind, 'advance');
  });

  void test('a controller-made pause does not fold unobserved time into the bake', () => {
    const p = { ...policy(), autoRollback: false };
    const state = started();
    const ids = canaries(state, p);
    const failing = countWave(state, p, reported(ids, s(21), 'failing'), healthyReportsSince(state, p, s(20)));
    const { state: paused, decision } = evaluate(state, p, failing, s(22), { observedSince: s(20) });
    assert.equal(decision.kind, 'fail');
    assert.equal(paused.state, 'paused');
    assert.equal(paused.bakedMs, 2000);
  });

  void test('the status shows the bake the controller would count', () => {
    const p = policy();
    const state = started();
    const summary = summarize(state, p, { targeted: 20, reported: 0, applied: 0, rejected: 0, unhealthy: 0 }, s(25), {
      observedSince: s(20),
    });
    assert.equal(summary.bakedMs, 5000);
    assert.equal(summary.bakeRemainingMs, 5000);
    assert.equal(summary.reportDeadlineAt, s(50));
  });
});

void describe('a wave passes only on reports received after it could have seen a failure', () => {
  void test('ok reports from before the observation window are a missing signal, not a healthy one', () => {
    const p = policy();
    const state = started();
    const ids = canaries(state, p);
    // The canaries reported ok at 1 s; the controller died at 2 s and came back at 20 s.
    const stale = countWave(state, p, reported(ids, s(1), 'ok'), healthyReportsSince(state, p, s(20)));
    assertCounts(stale, { targeted: ids.length, reported: 0, applied: 0, rejected: 0, unhealthy: 0 });
    const { decision } = evaluate(state, p, stale, s(35), { observedSince: s(20) });
    assert.equal(decision.kind, 'hold');
    assert.equal(decision.kind === 'hold' && decision.why, 'waiting_for_reports');
  });

  void test('the report deadline runs from the window when it opened after the wave started', () => {
    const p = policy();
    const state = started();
    const ids = canaries(state, p);
    const stale = countWave(state, p, reported(ids, s(1), 'ok'), healthyReportsSince(state, p, s(20)));
    assert.equal(reportDeadlineAtOf(state, p, 0, s(20)), s(50));
    assert.equal(evaluate(state, p, stale, s(49.999), { observedSince: s(20) }).decision.kind, 'hold');
    const late = evaluate(state, p, stale, s(50), { observedSince: s(20) });
    assert.equal(late.decision.kind, 'fail');
    assert.equal(late.decision.kind === 'fail' && late.decision.gate, 'minReportRatio');
    assert.equal(late.state.state, 'rolled_back');
  });

  void test('an unhealthy or rejected report counts however old it is', () => {
    const p = policy();
    const state = started();
    const ids = canaries(state, p);
    const instances = reported(ids, s(1), 'failing');
    const first = instances[0] as ReportedInstance;
    instances[0] = { ...first, health: 'ok', views: [{ seq: 2, status: 'rejected' }] };
    const old = countWave(state, p, instances, healthyReportsSince(state, p, s(20)));
    assertCounts(old, {
      targeted: ids.length,
      reported: ids.length,
      applied: ids.length - 1,
      rejected: 1,
      unhealthy: ids.length - 1,
    });
    assert.equal(evaluate(state, p, old, s(20), { observedSince: s(20) }).decision.kind, 'fail');
  });

  void test('gates.failureDelay: ok reports from the first moments of a wave do not count', () => {
    const p = policy({ failureDelay: '5s' });
    assert.equal(p.gates.failureDelayMs, 5000);
    const state = started();
    const ids = canaries(state, p);
    assert.equal(healthyReportsSince(state, p, s(0)), s(5));
    assert.equal(healthyReportsSince(state, p, s(8)), s(8));
    const early = countWave(state, p, reported(ids, s(4.999), 'ok'), healthyReportsSince(state, p, s(0)));
    assert.equal(early.reported, 0);
    const settled = countWave(state, p, reported(ids, s(5), 'ok'), healthyReportsSince(state, p, s(0)));
    assert.equal(settled.reported, ids.length);
    assert.equal(evaluate(state, p, early, s(12), { observedSince: s(0) }).decision.kind, 'hold');
    assert.equal(evaluate(state, p, settled, s(12), { observedSince: s(0) }).decision.kind, 'advance');
  });

  void test('gates.failureDelay is written back by formatPolicy and refused when not a duration', () => {
    const p = policy({ failureDelay: '1m30s' });
    assert.equal(formatPolicy(p).gates?.failureDelay, '1m30s');
    assert.deepEqual(parsePolicy(formatPolicy(p)), p);
    assert.equal(formatPolicy(policy()).gates?.failureDelay, undefined);
    assert.throws(
      () => policy({ failureDelay: 'soon' }),
      (error: Error & { extensions?: { violations?: Array<{ path: string }> } }) =>
        error.extensions?.violations?.some((v) => v.path === 'gates.failureDelay') === true,
    );
  });

  void test('instances outside the wave and views of other releases are not counted', () => {
    const p = policy();
    const state = started();
    const ids = canaries(state, p);
    const outside = Array.from({ length: 200 }, (_, i) => `web-${i}`).filter((id) => !ids.includes(id));
    const all = [...reported(ids, s(3), 'ok', 1), ...reported(outside, s(3), 'failing')];
    assertCounts(countWave(state, p, all, s(0)), {
      targeted: ids.length,
      reported: 0,
      applied: 0,
      rejected: 0,
      unhealthy: 0,
    });
  });
});

void describe('counting a fleet in pages (mergeWaveObservations)', () => {
  void test('the pages counted apart and merged equal the fleet counted whole, for any split', () => {
    const p = policy();
    // In the second wave, so that the counts of all targets and of what the wave adds differ.
    const state = { ...started(), wave: 1 };
    const healthySince = healthyReportsSince(state, p, s(20));
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.integer({ min: 0, max: 10_000 }),
            seq: fc.constantFrom(1, 2),
            status: fc.constantFrom('applied' as const, 'rejected' as const),
            health: fc.constantFrom('ok' as const, 'failing' as const),
            at: fc.constantFrom(s(10), s(30)),
          }),
          { maxLength: 300 },
        ),
        fc.array(fc.nat(300), { maxLength: 5 }),
        (rows, cuts) => {
          const fleet: ReportedInstance[] = rows.map((r, i) => ({
            instanceId: `web-${r.id}-${i}`,
            attributes: {},
            lastSeen: r.at,
            health: r.health,
            views: [{ seq: r.seq, status: r.status }],
          }));
          const bounds = [0, ...[...cuts].sort((a, b) => a - b).map((c) => Math.min(c, fleet.length)), fleet.length];
          let merged = countWave(state, p, [], healthySince);
          for (let i = 0; i + 1 < bounds.length; i++)
            merged = mergeWaveObservations(
              merged,
              countWave(state, p, fleet.slice(bounds[i], bounds[i + 1]), healthySince),
            );
          assert.deepEqual(merged, countWave(state, p, fleet, healthySince));
        },
      ),
      { numRuns: 300 },
    );
  });
});
