// Metric and HTTP checks in staged policies (issue 15): parsing with every problem named,
// placeholders, and how the machine judges the samples it is given.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluate,
  formatPolicy,
  HeraldError,
  parsePolicy,
  renderQuery,
  renderUrl,
  startRollout,
  summarize,
  type CheckSample,
  type RolloutState,
  type StagedRolloutPolicy,
  type Violation,
  type WaveObservation,
} from '../src/index.js';

const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number): number => T0 + seconds * 1000;

const errorRate =
  'sum(rate(http_requests_total{code=~"5..",release="{{seq}}"}[1m])) / sum(rate(http_requests_total{release="{{seq}}"}[1m]))';

function staged(gates: Record<string, unknown>, waves?: unknown[]): StagedRolloutPolicy {
  const policy = parsePolicy({
    strategy: 'staged',
    waves: waves ?? [
      { name: 'canary', percent: 10, bake: '60s' },
      { name: 'everyone', percent: 100, bake: '0s' },
    ],
    gates: { minReportRatio: 0, minInstances: 0, maxRejectRatio: 0, reportDeadline: '30s', ...gates },
  });
  assert.equal(policy.strategy, 'staged');
  return policy;
}

function violations(input: unknown): Violation[] {
  try {
    parsePolicy(input);
  } catch (error) {
    assert.ok(error instanceof HeraldError);
    assert.equal(error.code, 'invalid_policy');
    return (error.extensions?.violations as Violation[] | undefined) ?? [];
  }
  assert.fail('the policy was accepted');
}

const none: WaveObservation = { targeted: 0, reported: 0, applied: 0, rejected: 0, unhealthy: 0 };

function observed(samples: CheckSample[], name = 'error-rate', kind: 'metric' | 'http' = 'metric'): WaveObservation {
  return { ...none, checks: [{ name, kind, target: 'q', samples }] };
}

function rollout(): RolloutState {
  return startRollout({ id: 'ro-1', namespace: 'ns', fromSeq: 4, toSeq: 5, now: s(0), actor: 'alice' });
}

void describe('policy: gates.metrics and gates.http', () => {
  void test('the contract form parses, with defaults, and formats back to an equal policy', () => {
    const policy = staged({
      metrics: [{ name: 'error-rate', query: errorRate, max: 0.01, interval: '10s' }],
      http: [{ name: 'slo', url: 'http://127.0.0.1:9/check?release={{seq}}', interval: '5s' }],
      watch: '5m',
    });
    assert.deepEqual(policy.gates.metrics, [
      { name: 'error-rate', query: errorRate, max: 0.01, intervalMs: 10_000, noData: 'fail' },
    ]);
    assert.deepEqual(policy.gates.http, [
      {
        name: 'slo',
        url: 'http://127.0.0.1:9/check?release={{seq}}',
        intervalMs: 5000,
        timeoutMs: 5000,
        noData: 'fail',
      },
    ]);
    assert.equal(policy.gates.watchMs, 300_000);
    assert.deepEqual(parsePolicy(formatPolicy(policy)), policy);
  });

  void test('every bad field is named by its path', () => {
    const paths = violations({
      strategy: 'staged',
      gates: {
        metrics: [
          { name: 'x', query: 'up', interval: '10s' },
          { name: 'x', query: '', max: 'high', interval: '10ms', noData: 'maybe', extra: 1 },
          { name: 'ok', query: 'up{job="{{nope}}"}', min: 2, max: 1 },
        ],
        http: [{ name: 'h', url: 'ftp://x', timeout: '2m' }, 'not a check'],
      },
    }).map((v) => v.path);
    for (const path of [
      'gates.metrics[0].max',
      'gates.metrics[1].name',
      'gates.metrics[1].query',
      'gates.metrics[1].max',
      'gates.metrics[1].interval',
      'gates.metrics[1].noData',
      'gates.metrics[1].extra',
      'gates.metrics[2].query',
      'gates.metrics[2].min',
      'gates.http[0].url',
      'gates.http[0].timeout',
      'gates.http[1]',
    ])
      assert.ok(paths.includes(path), `${path} is named among ${paths.join(', ')}`);
  });
});

void describe('placeholders', () => {
  const context = {
    namespace: 'payments',
    rolloutId: 'ro-1',
    seq: 7,
    stable: 6,
    wave: 'canary',
    waveIndex: 0,
    instances: ['web-1.prod', 'web-2'],
    match: { region: ['westus', 'east"us'] },
  };

  void test('a query gets the wave, the release and the targeted instances as an escaped regex alternation', () => {
    assert.equal(
      renderQuery(
        'rate(x{release="{{seq}}",ns="{{namespace}}",wave="{{wave}}",instance=~"{{instances}}",region=~"{{match.region}}"}[1m]) - on() rate(x{release="{{stable}}"}[1m])',
        context,
      ),
      'rate(x{release="7",ns="payments",wave="canary",instance=~"web-1\\\\.prod|web-2",region=~"westus|east\\"us"}[1m]) - on() rate(x{release="6"}[1m])',
    );
  });

  void test('a URL gets them URL-encoded', () => {
    assert.equal(
      renderUrl('http://h/check?seq={{seq}}&i={{instances}}&r={{match.region}}', context),
      'http://h/check?seq=7&i=web-1.prod,web-2&r=westus,east%22us',
    );
  });
});

void describe('the machine judges the checks', () => {
  const policy = staged({ metrics: [{ name: 'error-rate', query: errorRate, max: 0.01, interval: '10s' }] });

  void test('a breach fails the wave at once and rolls back, naming the value and when', () => {
    const { state, decision } = evaluate(
      rollout(),
      policy,
      observed([
        { at: s(1), value: 0.001 },
        { at: s(11), value: 0.2 },
      ]),
      s(11),
    );
    assert.equal(decision.kind, 'fail');
    assert.equal(state.state, 'rolled_back');
    if (decision.kind !== 'fail') return;
    assert.equal(decision.gate, 'metric');
    assert.equal(decision.check?.name, 'error-rate');
    assert.equal(decision.check?.sample.value, 0.2);
    assert.match(decision.message, /0\.2 is beyond max 0\.01 at 2026-01-01T00:00:11\.000Z/u);
  });

  void test('flat values pass once the bake is over; before, the wave bakes', () => {
    const samples = [1, 11, 21, 31, 41, 51, 61].map((t) => ({ at: s(t), value: 0.001 }));
    assert.equal(evaluate(rollout(), policy, observed(samples.slice(0, 3)), s(21)).decision.kind, 'hold');
    const { decision } = evaluate(rollout(), policy, observed(samples), s(61));
    assert.equal(decision.kind, 'advance');
  });

  void test('with no sample the wave cannot pass, however long it baked', () => {
    const { decision } = evaluate(rollout(), policy, none, s(61));
    assert.equal(decision.kind, 'fail', 'no sample by the report deadline is a failing signal');
    const patient = staged({
      reportDeadline: '10m',
      metrics: [{ name: 'error-rate', query: errorRate, max: 0.01, interval: '10s' }],
    });
    const early = evaluate(rollout(), patient, none, s(61));
    assert.equal(early.decision.kind, 'hold');
    if (early.decision.kind === 'hold') assert.equal(early.decision.why, 'waiting_for_checks');
  });

  void test('no data waits until the report deadline before the first data, then fails; after data it fails at once', () => {
    const waiting = evaluate(rollout(), policy, observed([{ at: s(1), value: null }]), s(1));
    assert.equal(waiting.decision.kind, 'hold');
    const late = evaluate(rollout(), policy, observed([{ at: s(31), value: null }]), s(31));
    assert.equal(late.decision.kind, 'fail');
    const lost = evaluate(
      rollout(),
      policy,
      observed([
        { at: s(1), value: 0 },
        { at: s(11), value: null },
      ]),
      s(11),
    );
    assert.equal(lost.decision.kind, 'fail');
    assert.match(lost.decision.message, /returned no data/u);
  });

  void test('noData: pass makes an empty answer a pass; a query error never is', () => {
    const lenient = staged({
      metrics: [{ name: 'error-rate', query: errorRate, max: 0.01, interval: '10s', noData: 'pass' }],
    });
    const samples = [1, 11, 21, 31, 41, 51, 61].map((t) => ({ at: s(t), value: null }));
    assert.equal(evaluate(rollout(), lenient, observed(samples), s(61)).decision.kind, 'advance');
    const broken = evaluate(
      rollout(),
      lenient,
      observed([
        { at: s(1), value: 0 },
        { at: s(11), value: null, error: 'bad_data: parse error' },
      ]),
      s(11),
    );
    assert.equal(broken.decision.kind, 'fail');
    assert.match(broken.decision.message, /bad_data: parse error/u);
  });

  void test('an HTTP check fails on a fail answer; the summary shows the URL, threshold and values seen', () => {
    const http = staged({ http: [{ name: 'slo', url: 'http://127.0.0.1:9/ok', interval: '5s' }] });
    const samples: CheckSample[] = [
      { at: s(1), value: null, pass: true },
      { at: s(6), value: 3, pass: false },
    ];
    const { decision } = evaluate(rollout(), http, observed(samples, 'slo', 'http'), s(6));
    assert.equal(decision.kind, 'fail');
    if (decision.kind === 'fail') assert.equal(decision.gate, 'http');
    const summary = summarize(rollout(), http, observed(samples.slice(0, 1), 'slo', 'http'), s(2));
    assert.equal(summary.checks.length, 1);
    assert.equal(summary.checks[0]?.status, 'pass');
    assert.deepEqual(summary.checks[0]?.samples, [{ at: s(1), value: null, pass: true, outcome: 'pass' }]);
  });

  void test('gates.watch makes the last wave bake at least that long', () => {
    const watched = staged({ watch: '2m', minReportRatio: 0 }, [{ name: 'everyone', percent: 100, bake: '0s' }]);
    const state = rollout();
    assert.equal(evaluate(state, watched, none, s(60)).decision.kind, 'hold');
    assert.equal(evaluate(state, watched, none, s(121)).decision.kind, 'succeed');
  });
});
