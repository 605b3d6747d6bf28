// Properties of wave selection (buckets) and of the rollout state machine, over generated
// policies, fleets and sequences of commands and observations.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  abort,
  bucketCount,
  bucketOf,
  evaluate,
  firstWaveOf,
  freeze,
  HeraldError,
  isActiveRollout,
  isTargeted,
  parsePolicy,
  pause,
  resume,
  rollback,
  selectsCandidate,
  startRollout,
  unfreeze,
  type RolloutState,
  type StagedRolloutPolicy,
  type WaveObservation,
} from '../src/index.js';
import { CaseCounter, propertyRuns } from './property-runs.js';

const numRuns = propertyRuns();
const counter = new CaseCounter('core-rollout-properties');
after(() => counter.print());

const T0 = Date.UTC(2026, 0, 1);
const id = fc.string({ unit: 'binary', minLength: 1, maxLength: 16 });

/** Staged policies with 1–4 waves of increasing percent, the last 100 %. */
const policy: fc.Arbitrary<StagedRolloutPolicy> = fc
  .record({
    percents: fc.uniqueArray(fc.integer({ min: 1, max: 9999 }), { maxLength: 3 }),
    bakes: fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 4, maxLength: 4 }),
    minReportRatio: fc.double({ min: 0, max: 1, noNaN: true }),
    maxRejectRatio: fc.double({ min: 0, max: 1, noNaN: true }),
    maxUnhealthyRatio: fc.double({ min: 0, max: 1, noNaN: true }),
    minInstances: fc.integer({ min: 0, max: 5 }),
    autoRollback: fc.boolean(),
  })
  .map((p) => {
    const percents = [...p.percents.sort((a, b) => a - b).map((n) => n / 100), 100];
    const parsed = parsePolicy({
      strategy: 'staged',
      waves: percents.map((percent, i) => ({ name: `w${i}`, percent, bake: `${p.bakes[i] ?? 0}s` })),
      gates: {
        minReportRatio: p.minReportRatio,
        maxRejectRatio: p.maxRejectRatio,
        maxUnhealthyRatio: p.maxUnhealthyRatio,
        minInstances: p.minInstances,
      },
      autoRollback: p.autoRollback,
    });
    assert.equal(parsed.strategy, 'staged');
    return parsed;
  });

void describe('buckets', () => {
  void test('are deterministic and in [0, 10000)', () => {
    fc.assert(
      fc.property(id, id, (rollout, instance) => {
        counter.add();
        const bucket = bucketOf(rollout, instance);
        assert.ok(Number.isInteger(bucket) && bucket >= 0 && bucket < bucketCount);
        assert.equal(bucketOf(rollout, instance), bucket);
      }),
      { numRuns },
    );
  });

  void test('are uniform enough: each tenth of the range holds 10 % ± 1.5 % of 20,000 instances', () => {
    fc.assert(
      fc.property(id, (rollout) => {
        counter.add();
        const tenths = new Array<number>(10).fill(0);
        const n = 20_000;
        for (let i = 0; i < n; i++) tenths[Math.floor(bucketOf(rollout, `instance-${i}`) / 1000)]! += 1;
        for (const count of tenths) assert.ok(Math.abs(count / n - 0.1) < 0.015, `a tenth holds ${count} of ${n}`);
      }),
      { numRuns: Math.min(numRuns, 20) },
    );
  });

  void test('an instance in a wave stays in every later wave (the 1 % is inside the 10 %)', () => {
    fc.assert(
      fc.property(policy, id, fc.array(id, { minLength: 1, maxLength: 50 }), (p, rollout, instances) => {
        counter.add();
        for (const instanceId of instances) {
          const instance = { instanceId, attributes: {} };
          const first = firstWaveOf(p, rollout, instance);
          assert.notEqual(first, undefined, 'the last wave is everyone');
          for (let wave = 0; wave < p.waves.length; wave++)
            assert.equal(isTargeted(p, wave, rollout, instance), wave >= (first as number));
        }
      }),
      { numRuns },
    );
  });
});

type Step =
  | { kind: 'evaluate'; dt: number; observation: WaveObservation }
  | { kind: 'pause' | 'resume' | 'freeze' | 'unfreeze' | 'abort' | 'rollback'; dt: number };

const observation: fc.Arbitrary<WaveObservation> = fc
  .record({
    targeted: fc.integer({ min: 0, max: 50 }),
    reportedShare: fc.double({ min: 0, max: 1, noNaN: true }),
    rejectedShare: fc.double({ min: 0, max: 1, noNaN: true }),
    unhealthyShare: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ targeted, reportedShare, rejectedShare, unhealthyShare }) => {
    const reported = Math.floor(targeted * reportedShare);
    const rejected = Math.floor(reported * rejectedShare);
    return {
      targeted,
      reported,
      applied: reported - rejected,
      rejected,
      unhealthy: Math.floor(targeted * unhealthyShare),
    };
  });

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('evaluate' as const),
      dt: fc.integer({ min: 0, max: 90_000 }),
      observation,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('pause', 'resume', 'freeze', 'unfreeze', 'abort', 'rollback'),
      dt: fc.integer({ min: 0, max: 30_000 }),
    }),
  },
);

const commands = { pause, resume, freeze, unfreeze, abort, rollback } as const;

void describe('the rollout state machine', () => {
  void test('keeps its invariants over any sequence of commands and observations', () => {
    fc.assert(
      fc.property(policy, fc.array(step, { maxLength: 40 }), (p, steps) => {
        counter.add();
        let state: RolloutState = startRollout({
          id: 'r',
          namespace: 'ns',
          fromSeq: 3,
          toSeq: 4,
          now: T0,
          actor: 'me',
        });
        let now = T0;
        for (const s of steps) {
          now += s.dt;
          const before = state;
          if (s.kind === 'evaluate') {
            const { state: next, decision } = evaluate(state, p, s.observation, now);
            const o = s.observation;
            const ratio = (n: number): number => (o.targeted === 0 ? 0 : n / o.targeted);
            const unsafe = ratio(o.rejected) > p.gates.maxRejectRatio || ratio(o.unhealthy) > p.gates.maxUnhealthyRatio;
            if (decision.kind === 'hold') assert.equal(next, before, 'a hold changes nothing');
            // A failing gate never lets the rollout move on.
            if (unsafe) assert.ok(decision.kind === 'hold' || decision.kind === 'fail', decision.kind);
            if (decision.kind === 'fail') {
              assert.equal(next.wave, before.wave);
              assert.equal(next.state, p.autoRollback ? 'rolled_back' : 'paused');
            }
            if (decision.kind === 'advance') {
              assert.equal(before.state, 'running');
              assert.equal(next.wave, before.wave + 1);
              assert.ok(o.targeted >= p.gates.minInstances);
            }
            if (decision.kind === 'succeed') assert.equal(before.wave, p.waves.length - 1);
            if (!isActiveRollout(before)) assert.equal(decision.kind, 'hold');
            if (before.state === 'frozen') assert.equal(decision.kind, 'hold');
            state = next;
          } else {
            try {
              state = commands[s.kind](state, now, 'me');
            } catch (error) {
              assert.ok(error instanceof HeraldError && error.code === 'invalid_transition', String(error));
              assert.equal(state, before);
            }
            // A finished rollout never comes back.
            if (!isActiveRollout(before)) assert.equal(state, before);
          }
          assert.ok(state.wave >= before.wave, 'the wave never goes down');
          assert.ok(state.wave < p.waves.length);
          assert.ok(state.updatedAt >= before.updatedAt, 'time never goes backwards in the state');
          assert.ok(state.bakedMs >= 0);
          assert.ok(state.history.length >= Math.min(before.history.length, 200));
          if (state !== before) assert.equal(state.history.at(-1)?.to, state.state);
          // Only an active or succeeded rollout puts anyone on the candidate.
          if (!isActiveRollout(state) && state.state !== 'succeeded')
            assert.equal(selectsCandidate(state, p, { instanceId: 'i', attributes: {} }), false);
        }
      }),
      { numRuns },
    );
  });
});
