import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  abort,
  bakedMsAt,
  bucketOf,
  checkDuration,
  defaultGates,
  defaultWaves,
  evaluate,
  firstWaveOf,
  formatDuration,
  formatPolicy,
  freeze,
  HeraldError,
  isActiveRollout,
  isTargeted,
  matchesWave,
  parseDuration,
  parsePolicy,
  parseRolloutState,
  pause,
  reportDeadlineOf,
  resume,
  rollback,
  selectsCandidate,
  startRollout,
  summarize,
  unfreeze,
  type RolloutDecision,
  type RolloutPolicy,
  type RolloutState,
  type StagedRolloutPolicy,
  type Violation,
  type WaveObservation,
} from '../src/index.js';

const T0 = Date.UTC(2026, 0, 1);
const s = (seconds: number): number => T0 + seconds * 1000;

function staged(input: Record<string, unknown>): StagedRolloutPolicy {
  const policy = parsePolicy({ strategy: 'staged', ...input });
  assert.equal(policy.strategy, 'staged');
  return policy;
}

/** canary 10 % baking 30s, half 50 % baking 1m, everyone 100 % baking 0s; gates 0.8 / 0 / 0.05. */
function threeWaves(extra: Record<string, unknown> = {}): StagedRolloutPolicy {
  return staged({
    waves: [
      { name: 'canary', percent: 10, bake: '30s' },
      { name: 'half', percent: 50, bake: '1m' },
      { name: 'everyone', percent: 100, bake: '0s' },
    ],
    gates: { minReportRatio: 0.8, maxRejectRatio: 0, maxUnhealthyRatio: 0.05 },
    autoRollback: true,
    ...extra,
  });
}

function obs(targeted: number, reported: number, rejected = 0, unhealthy = 0): WaveObservation {
  return { targeted, reported, applied: reported - rejected, rejected, unhealthy };
}

function start(now = T0): RolloutState {
  return startRollout({ id: 'r-1', namespace: 'payments', fromSeq: 4, toSeq: 5, now, actor: 'alice' });
}

function expectHold(decision: RolloutDecision, why: string): Extract<RolloutDecision, { kind: 'hold' }> {
  assert.equal(decision.kind, 'hold', JSON.stringify(decision));
  assert.ok(decision.kind === 'hold');
  assert.equal(decision.why, why, decision.message);
  return decision;
}

function expectFail(decision: RolloutDecision, gate: string): Extract<RolloutDecision, { kind: 'fail' }> {
  assert.equal(decision.kind, 'fail', JSON.stringify(decision));
  assert.ok(decision.kind === 'fail');
  assert.equal(decision.gate, gate);
  return decision;
}

function violationsOf(input: unknown): Violation[] {
  try {
    parsePolicy(input);
  } catch (error) {
    assert.ok(error instanceof HeraldError, String(error));
    assert.equal(error.code, 'invalid_policy');
    assert.equal(error.status, 400);
    const violations = error.extensions.violations as Violation[];
    assert.ok(Array.isArray(violations) && violations.length > 0);
    for (const v of violations)
      assert.ok(error.message.includes(v.path) || violations.length > 10, `${v.path} is not in the message`);
    return violations;
  }
  assert.fail(`parsePolicy accepted ${JSON.stringify(input)}`);
}

const pathsOf = (input: unknown): string[] => violationsOf(input).map((v) => v.path);

const isTransitionError = (error: unknown): boolean =>
  error instanceof HeraldError && error.code === 'invalid_transition' && error.status === 409;

// --- durations ----------------------------------------------------------------------------------

void describe('durations', () => {
  void test('parse the units h, m, s, ms, largest first, and plain milliseconds', () => {
    const cases: Array<[unknown, number]> = [
      ['500ms', 500],
      ['30s', 30_000],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['1h30m', 5_400_000],
      ['1h30m15s250ms', 5_415_250],
      ['1m5ms', 60_005],
      ['1.5h', 5_400_000],
      ['0.25s', 250],
      ['1.1s', 1100],
      ['0s', 0],
      ['0ms', 0],
      ['0', 0],
      [' 5m ', 300_000],
      ['720h', 30 * 24 * 3_600_000],
      [0, 0],
      [1500, 1500],
    ];
    for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, String(input));
  });

  void test('refuse what is not a duration, saying why', () => {
    const bad: unknown[] = [
      '30',
      '1.5',
      '5 m',
      '5x',
      '',
      ' ',
      '1m1h',
      '30s5m',
      '-5s',
      '5S',
      '1d',
      'ms',
      'h',
      '0.5ms',
      '721h',
      -1,
      1.5,
      Number.NaN,
      Infinity,
      31 * 24 * 3_600_000,
      null,
      {},
      [],
      true,
    ];
    for (const input of bad) {
      const result = checkDuration(input);
      assert.ok(result.problem !== undefined, `accepted ${String(input)}`);
      assert.throws(
        () => parseDuration(input, '--bake'),
        (e: unknown) => e instanceof HeraldError && e.code === 'invalid_request' && e.message.startsWith('--bake '),
      );
    }
    assert.match(checkDuration('30').problem ?? '', /no unit: write "30ms" or "30s"/u);
  });

  void test('format canonically, and read back exactly', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(500), '500ms');
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(61_001), '1m1s1ms');
    assert.equal(formatDuration(48 * 3_600_000), '48h');
    for (let ms = 0; ms < 5_000_000; ms += 7919) assert.equal(parseDuration(formatDuration(ms)), ms);
    assert.throws(() => formatDuration(-1), RangeError);
    assert.throws(() => formatDuration(1.5), RangeError);
  });
});

// --- the policy ---------------------------------------------------------------------------------

void describe('parsePolicy', () => {
  void test('a wave template takes the fleet one region at a time: each value its own wave, in order', () => {
    const policy = parsePolicy({
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 1, bake: '1m', match: { region: ['westus'] } },
        { name: 'region', percent: 100, bake: '5m', each: { region: ['westus', 'eastus', 'northeu'] } },
        { name: 'everyone', percent: 100, bake: '0s' },
      ],
    });
    assert.equal(policy.strategy, 'staged');
    if (policy.strategy !== 'staged') return;
    assert.deepEqual(
      policy.waves.map((w) => [w.name, w.percent, w.bakeMs, w.match]),
      [
        ['canary', 1, 60_000, { region: ['westus'] }],
        ['region-westus', 100, 300_000, { region: ['westus'] }],
        ['region-eastus', 100, 300_000, { region: ['eastus'] }],
        ['region-northeu', 100, 300_000, { region: ['northeu'] }],
        ['everyone', 100, 0, undefined],
      ],
    );
    // An eastus instance gets nothing before its region's wave, and a region never before its turn.
    const east = { instanceId: 'web-7', attributes: { region: 'eastus' } };
    assert.equal(firstWaveOf(policy, 'r-1', east), 2);
    assert.equal(firstWaveOf(policy, 'r-1', { instanceId: 'web-8', attributes: { region: 'apac' } }), 4);
    assert.deepEqual(
      pathsOf({ strategy: 'staged', waves: [{ name: 'r', percent: 100, bake: '0s', each: { region: [] } }] }),
      ['waves[0].each'],
    );
  });

  void test('reads the policy of the issue', () => {
    const policy = parsePolicy({
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 10, bake: '30s', match: { region: ['westus'] } },
        { name: 'everyone', percent: 100, bake: '0s' },
      ],
      gates: { minReportRatio: 0.8, maxRejectRatio: 0.0, maxUnhealthyRatio: 0.05 },
      autoRollback: true,
    });
    assert.deepEqual(policy, {
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 10, bakeMs: 30_000, match: { region: ['westus'] } },
        { name: 'everyone', percent: 100, bakeMs: 0 },
      ],
      gates: { minReportRatio: 0.8, maxRejectRatio: 0, maxUnhealthyRatio: 0.05, minInstances: 1 },
      autoRollback: true,
    });
  });

  void test('a staged policy with no waves or gates gets 1 % → 10 % → 50 % → 100 %, 5m/10m/10m/0s, 0.8 / 0 / 0.05, autoRollback', () => {
    const policy = staged({});
    assert.deepEqual(
      policy.waves.map((w) => [w.percent, formatDuration(w.bakeMs)]),
      [
        [1, '5m'],
        [10, '10m'],
        [50, '10m'],
        [100, '0s'],
      ],
    );
    assert.deepEqual(policy.gates, {
      minReportRatio: 0.8,
      maxRejectRatio: 0,
      maxUnhealthyRatio: 0.05,
      minInstances: 1,
    });
    assert.equal(policy.autoRollback, true);
    assert.equal(reportDeadlineOf(policy, 0), 5 * 60_000);
    assert.equal(reportDeadlineOf(policy, 3), 60_000, 'max(bake, 60s)');
    // The defaults handed out are copies: changing one policy changes no other.
    policy.waves[0]!.percent = 99;
    policy.gates.minReportRatio = 0;
    assert.equal(staged({}).waves[0]!.percent, 1);
    assert.equal(defaultWaves[0]!.percent, 1);
    assert.equal(defaultGates.minReportRatio, 0.8);
  });

  void test('partial gates keep the other defaults; reportDeadline and minInstances are read', () => {
    const policy = staged({ gates: { maxUnhealthyRatio: 0.2, reportDeadline: '5m', minInstances: 3 } });
    assert.deepEqual(policy.gates, {
      minReportRatio: 0.8,
      maxRejectRatio: 0,
      maxUnhealthyRatio: 0.2,
      reportDeadlineMs: 300_000,
      minInstances: 3,
    });
    assert.equal(reportDeadlineOf(policy, 0), 300_000);
    assert.equal(staged({ autoRollback: false }).autoRollback, false);
  });

  void test('immediate and manual have no waves, gates or autoRollback', () => {
    assert.deepEqual(parsePolicy({ strategy: 'immediate' }), { strategy: 'immediate' });
    assert.deepEqual(parsePolicy({ strategy: 'manual' }), { strategy: 'manual' });
    assert.deepEqual(
      pathsOf({ strategy: 'manual', waves: [{ name: 'a', percent: 100, bake: '0s' }], gates: {}, autoRollback: true }),
      ['waves', 'gates', 'autoRollback'],
    );
  });

  void test('every problem is listed with its path', () => {
    const violations = violationsOf({
      strategy: 'staged',
      color: 'blue',
      waves: [
        { name: 'canary', percent: 0, bake: '30', extra: 1 },
        { name: 'canary', percent: 'ten', bake: '1m', match: { region: [] } },
        { percent: 50, bake: '1x' },
        { name: 'all', percent: 100, bake: -5 },
      ],
      gates: {
        minReportRatio: 1.5,
        maxRejectRatio: -0.1,
        maxUnhealthyRatio: '5%',
        reportDeadline: '0s',
        minInstances: 1.5,
        minReport: 1,
      },
      autoRollback: 'yes',
    });
    assert.deepEqual(violations.map((v) => v.path).sort(), [
      'autoRollback',
      'color',
      'gates.maxRejectRatio',
      'gates.maxUnhealthyRatio',
      'gates.minInstances',
      'gates.minReport',
      'gates.minReportRatio',
      'gates.reportDeadline',
      'waves[0].bake',
      'waves[0].extra',
      'waves[0].percent',
      'waves[1].match.region',
      'waves[1].name',
      'waves[1].percent',
      'waves[2].bake',
      'waves[2].name',
      'waves[3].bake',
    ]);
    const byPath = new Map(violations.map((v) => [v.path, v.message]));
    assert.match(byPath.get('waves[1].name') ?? '', /already the name of waves\[0\]/u);
    assert.match(byPath.get('waves[0].bake') ?? '', /no unit/u);
    assert.match(byPath.get('color') ?? '', /not a field/u);
  });

  void test('the shape: an object, with a known strategy', () => {
    for (const input of [null, [], 'staged', 42, undefined]) assert.deepEqual(pathsOf(input), ['(policy)']);
    assert.deepEqual(pathsOf({}), ['strategy']);
    assert.deepEqual(pathsOf({ strategy: 'yolo' }), ['strategy']);
    assert.deepEqual(pathsOf({ strategy: 'staged', waves: [] }), ['waves']);
    assert.deepEqual(pathsOf({ strategy: 'staged', waves: { canary: 1 } }), ['waves']);
    assert.deepEqual(pathsOf({ strategy: 'staged', waves: [null, { name: 'all', percent: 100, bake: 0 }] }), [
      'waves[0]',
    ]);
    assert.deepEqual(pathsOf({ strategy: 'staged', gates: [] }), ['gates']);
    assert.deepEqual(
      pathsOf({
        strategy: 'staged',
        waves: Array.from({ length: 21 }, (_, i) => ({ name: `w${i}`, percent: 100, bake: 0 })),
      }),
      ['waves'],
    );
  });

  void test('percent: more than 0, at most 100, in steps of 0.01', () => {
    const wave = (percent: unknown): unknown => ({
      strategy: 'staged',
      waves: [
        { name: 'a', percent, bake: '1s' },
        { name: 'all', percent: 100, bake: 0 },
      ],
    });
    for (const bad of [0, -1, 100.5, 101, 0.001, 12.345, Number.NaN, '10', null])
      assert.deepEqual(pathsOf(wave(bad)), ['waves[0].percent'], String(bad));
    for (const good of [0.01, 0.5, 1, 12.34, 99.99, 100])
      assert.equal(staged(wave(good) as { waves: unknown } as Record<string, unknown>).waves[0]!.percent, good);
  });

  void test('percents never shrink for the same selector; different selectors may', () => {
    assert.deepEqual(
      pathsOf({
        strategy: 'staged',
        waves: [
          { name: 'a', percent: 20, bake: 0 },
          { name: 'b', percent: 10, bake: 0 },
          { name: 'c', percent: 100, bake: 0 },
        ],
      }),
      ['waves[1].percent'],
    );
    assert.deepEqual(
      pathsOf({
        strategy: 'staged',
        waves: [
          { name: 'a', percent: 50, bake: 0, match: { region: ['b', 'a'], tier: 'x' } },
          { name: 'b', percent: 20, bake: 0, match: { tier: ['x'], region: ['a', 'b'] } },
          { name: 'c', percent: 100, bake: 0 },
        ],
      }),
      ['waves[1].percent'],
      'the same selector written in another order',
    );
    // All of westus, then 10 % of everyone, then everyone: fine, since waves add up.
    const policy = staged({
      waves: [
        { name: 'westus', percent: 100, bake: '1m', match: { region: ['westus'] } },
        { name: 'tenth', percent: 10, bake: '1m' },
        { name: 'everyone', percent: 100, bake: '0s' },
      ],
    });
    assert.equal(policy.waves.length, 3);
  });

  void test('the last wave is 100 % of everyone', () => {
    assert.deepEqual(
      pathsOf({
        strategy: 'staged',
        waves: [
          { name: 'a', percent: 10, bake: 0 },
          { name: 'b', percent: 50, bake: 0 },
        ],
      }),
      ['waves[1].percent'],
    );
    assert.deepEqual(
      pathsOf({ strategy: 'staged', waves: [{ name: 'a', percent: 100, bake: 0, match: { region: 'westus' } }] }),
      ['waves[0].match'],
    );
    assert.match(
      violationsOf({ strategy: 'staged', waves: [{ name: 'a', percent: 10, bake: 0 }] })[0]!.message,
      /finished rollout covers every instance/u,
    );
    // An empty match is no match.
    assert.deepEqual(staged({ waves: [{ name: 'all', percent: 100, bake: '0s', match: {} }] }).waves, [
      { name: 'all', percent: 100, bakeMs: 0 },
    ]);
  });

  void test('match: attribute → a value or a list of values', () => {
    const policy = staged({
      waves: [
        { name: 'a', percent: 5, bake: '1s', match: { service: 'checkout', region: ['westus', 'eastus', 'westus'] } },
        { name: 'all', percent: 100, bake: 0 },
      ],
    });
    assert.deepEqual(policy.waves[0]!.match, { service: ['checkout'], region: ['westus', 'eastus'] });
    const wave0 = (match: unknown): unknown => ({
      strategy: 'staged',
      waves: [
        { name: 'a', percent: 5, bake: 0, match },
        { name: 'all', percent: 100, bake: 0 },
      ],
    });
    assert.deepEqual(pathsOf(wave0({ region: [] })), ['waves[0].match.region']);
    assert.deepEqual(pathsOf(wave0({ region: [1, 'x', null] })), [
      'waves[0].match.region[0]',
      'waves[0].match.region[2]',
    ]);
    assert.deepEqual(pathsOf(wave0({ region: { a: 1 } })), ['waves[0].match.region']);
    assert.deepEqual(pathsOf(wave0('region=westus')), ['waves[0].match']);
    assert.deepEqual(pathsOf(wave0({ '': ['x'] })), ['waves[0].match.']);
    // "__proto__" from JSON is an attribute like any other, not a prototype.
    const parsed = staged(
      JSON.parse(
        '{"waves":[{"name":"a","percent":5,"bake":0,"match":{"__proto__":["x"]}},{"name":"all","percent":100,"bake":0}]}',
      ) as Record<string, unknown>,
    );
    const match = parsed.waves[0]!.match!;
    assert.deepEqual(Object.keys(match), ['__proto__']);
    assert.equal(Object.getPrototypeOf(match), Object.prototype);
    assert.equal(matchesWave(match, JSON.parse('{"__proto__":"x"}') as Record<string, string>), true);
    assert.equal(matchesWave(match, {}), false);
  });

  void test('formatPolicy gives the canonical document, which parses back to the same policy', () => {
    const policies: RolloutPolicy[] = [
      parsePolicy({ strategy: 'immediate' }),
      parsePolicy({ strategy: 'manual' }),
      staged({}),
      staged({ gates: { reportDeadline: 90_000, minInstances: 0 }, autoRollback: false }),
      staged({
        waves: [
          { name: 'canary', percent: 0.5, bake: 1500, match: { region: 'westus', tier: ['a', 'b'] } },
          { name: 'everyone', percent: 100, bake: '1h30m' },
        ],
      }),
    ];
    for (const policy of policies) {
      const document = formatPolicy(policy);
      assert.deepEqual(JSON.parse(JSON.stringify(document)), document, 'plain JSON');
      assert.deepEqual(parsePolicy(document), policy);
    }
    assert.deepEqual(formatPolicy(parsePolicy({ strategy: 'manual' })), { strategy: 'manual' });
    assert.deepEqual(formatPolicy(policies[4]!), {
      strategy: 'staged',
      waves: [
        { name: 'canary', percent: 0.5, bake: '1s500ms', match: { region: ['westus'], tier: ['a', 'b'] } },
        { name: 'everyone', percent: 100, bake: '1h30m' },
      ],
      gates: { minReportRatio: 0.8, maxRejectRatio: 0, maxUnhealthyRatio: 0.05, minInstances: 1 },
      autoRollback: true,
    });
    assert.equal((formatPolicy(policies[3]!).gates ?? {}).reportDeadline, '1m30s');
  });
});

// --- bucketing ----------------------------------------------------------------------------------

void describe('bucketing', () => {
  void test('bucketOf is the first 6 bytes of SHA-256(rolloutId NUL instanceId), big-endian, mod 10000', () => {
    for (const [rollout, instance] of [
      ['r-1', 'i-1'],
      ['', ''],
      ['rollout', 'ключ 😀'],
    ]) {
      const expected =
        createHash('sha256')
          .update(Buffer.from(`${rollout}\u0000${instance}`, 'utf8'))
          .digest()
          .readUIntBE(0, 6) % 10_000;
      assert.equal(bucketOf(rollout!, instance!), expected);
      assert.equal(bucketOf(rollout!, instance!), bucketOf(rollout!, instance!));
    }
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert.notEqual(bucketOf('ab', 'c'), bucketOf('a', 'bc'));
  });

  void test('buckets are uniform: 100,000 instances, every 1 % slice within ±0.2 %', () => {
    const n = 100_000;
    const slices = new Array<number>(100).fill(0);
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const bucket = bucketOf('rollout-7f3a', `instance-${i}`);
      assert.ok(Number.isInteger(bucket));
      min = Math.min(min, bucket);
      max = Math.max(max, bucket);
      slices[Math.floor(bucket / 100)]! += 1;
    }
    assert.ok(min >= 0 && max < 10_000 && min < 10 && max > 9990, `${min}..${max}`);
    for (const [i, count] of slices.entries())
      assert.ok(Math.abs(count / n - 0.01) <= 0.002, `slice ${i} holds ${count}`);
    // The first 10 % and 50 % as well.
    const upTo = (k: number): number => slices.slice(0, k).reduce((a, b) => a + b, 0) / n;
    assert.ok(Math.abs(upTo(10) - 0.1) <= 0.005, String(upTo(10)));
    assert.ok(Math.abs(upTo(50) - 0.5) <= 0.005, String(upTo(50)));
  });

  void test('each rollout draws its own canaries', () => {
    let both = 0;
    let first = 0;
    for (let i = 0; i < 100_000; i++) {
      const a = bucketOf('rollout-a', `i-${i}`) < 1000;
      const b = bucketOf('rollout-b', `i-${i}`) < 1000;
      if (a) first++;
      if (a && b) both++;
    }
    // Independent: about 10 % of the first rollout's 10 % are in the second's.
    assert.ok(Math.abs(both / first - 0.1) < 0.02, `${both} of ${first}`);
  });

  void test('targeting is monotonic: an instance in a wave is in every later wave, and the last wave is everyone', () => {
    const policy = staged({});
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) {
      const instance = { instanceId: `i-${i}`, attributes: {} };
      let before = false;
      for (let wave = 0; wave < 4; wave++) {
        const now = isTargeted(policy, wave, 'r-9', instance);
        if (before) assert.ok(now, `instance ${i} left at wave ${wave}`);
        if (now) counts[wave]! += 1;
        before = now;
      }
      assert.equal(isTargeted(policy, -1, 'r-9', instance), false);
      assert.equal(isTargeted(policy, 99, 'r-9', instance), true);
      const first = firstWaveOf(policy, 'r-9', instance);
      assert.ok(
        first !== undefined &&
          isTargeted(policy, first, 'r-9', instance) &&
          (first === 0 || !isTargeted(policy, first - 1, 'r-9', instance)),
      );
    }
    assert.equal(counts[3], 20_000);
    assert.ok(counts[0]! > 120 && counts[0]! < 280, `1 %: ${counts[0]}`);
    assert.ok(counts[1]! > 1800 && counts[1]! < 2200, `10 %: ${counts[1]}`);
    assert.ok(counts[2]! > 9600 && counts[2]! < 10_400, `50 %: ${counts[2]}`);
  });

  void test('waves select by attributes, all of them, and add up', () => {
    const policy = staged({
      waves: [
        { name: 'westus-checkout', percent: 100, bake: '1m', match: { region: ['westus'], service: 'checkout' } },
        { name: 'tenth', percent: 10, bake: '1m' },
        { name: 'everyone', percent: 100, bake: '0s' },
      ],
    });
    const west = { instanceId: 'w', attributes: { region: 'westus', service: 'checkout' } };
    const westOther = { instanceId: 'w2', attributes: { region: 'westus', service: 'search' } };
    const noRegion = { instanceId: 'n', attributes: { service: 'checkout' } };
    assert.equal(isTargeted(policy, 0, 'r', west), true);
    assert.equal(isTargeted(policy, 0, 'r', westOther), false);
    assert.equal(isTargeted(policy, 0, 'r', noRegion), false);
    assert.equal(isTargeted(policy, 1, 'r', west), true, 'still in after its wave');
    let east = 0;
    for (let i = 0; i < 10_000; i++)
      if (isTargeted(policy, 1, 'r', { instanceId: `e-${i}`, attributes: { region: 'eastus' } })) east++;
    assert.ok(east > 900 && east < 1100, String(east));
    assert.equal(isTargeted(policy, 2, 'r', westOther), true);
    assert.equal(matchesWave(undefined, {}), true);
    assert.equal(matchesWave({ region: ['a'] }, { region: 'A' }), false, 'values match exactly');
  });

  void test('a policy that is not staged targets everyone', () => {
    for (const strategy of ['immediate', 'manual']) {
      assert.equal(isTargeted(parsePolicy({ strategy }), 0, 'r', { instanceId: 'x', attributes: {} }), true);
    }
  });
});

// --- the state machine --------------------------------------------------------------------------

void describe('rollout state machine', () => {
  void test('startRollout: running wave 0 from now, with a history entry', () => {
    const state = start();
    assert.deepEqual(state, {
      id: 'r-1',
      namespace: 'payments',
      fromSeq: 4,
      toSeq: 5,
      state: 'running',
      wave: 0,
      waveStartedAt: T0,
      startedAt: T0,
      updatedAt: T0,
      bakedMs: 0,
      history: [
        { at: T0, from: 'none', to: 'running', wave: 0, actor: 'alice', reason: 'roll out release 5 (stable: 4)' },
      ],
    });
    assert.equal(isActiveRollout(state), true);
    assert.throws(
      () => startRollout({ id: 'r', namespace: 'n', fromSeq: 5, toSeq: 5, now: T0, actor: 'a' }),
      RangeError,
    );
    assert.throws(
      () => startRollout({ id: '', namespace: 'n', fromSeq: 0, toSeq: 1, now: T0, actor: 'a' }),
      RangeError,
    );
    assert.throws(
      () => startRollout({ id: 'r', namespace: 'n', fromSeq: 0, toSeq: 1, now: Number.NaN, actor: 'a' }),
      RangeError,
    );
    assert.equal(
      startRollout({ id: 'r', namespace: 'n', fromSeq: 0, toSeq: 1, now: T0, actor: 'a', reason: 'first' }).history[0]!
        .reason,
      'first',
    );
  });

  void test('a good release passes every wave and becomes stable', () => {
    const policy = threeWaves();
    let state = start();
    let r = evaluate(state, policy, obs(10, 0), s(0));
    expectHold(r.decision, 'baking');
    assert.equal(r.state, state, 'a hold returns the same state: nothing to persist');
    r = evaluate(state, policy, obs(10, 10), s(10));
    assert.equal(expectHold(r.decision, 'baking').bakeRemainingMs, 20_000);
    r = evaluate(state, policy, obs(10, 10), s(30));
    assert.deepEqual({ kind: r.decision.kind, wave: r.decision.wave }, { kind: 'advance', wave: 1 });
    state = r.state;
    assert.equal(state.wave, 1);
    assert.equal(state.waveStartedAt, s(30));
    assert.equal(state.bakedMs, 0);
    assert.equal(state.state, 'running');

    r = evaluate(state, policy, obs(50, 20), s(40));
    expectHold(r.decision, 'baking');
    r = evaluate(state, policy, obs(50, 45, 0, 2), s(90));
    assert.equal(r.decision.kind, 'advance');
    state = r.state;
    assert.equal(state.wave, 2);

    r = evaluate(state, policy, obs(100, 50), s(91));
    expectHold(r.decision, 'waiting_for_reports');
    r = evaluate(state, policy, obs(100, 100), s(95));
    assert.equal(r.decision.kind, 'succeed');
    state = r.state;
    assert.equal(state.state, 'succeeded');
    assert.equal(isActiveRollout(state), false);
    assert.match(state.reason ?? '', /release 5 is now stable/u);
    assert.deepEqual(
      state.history.map((h) => [h.from, h.to, h.wave, h.actor]),
      [
        ['none', 'running', 0, 'alice'],
        ['running', 'running', 1, 'controller'],
        ['running', 'running', 2, 'controller'],
        ['running', 'succeeded', 2, 'controller'],
      ],
    );
    expectHold(evaluate(state, policy, obs(100, 100, 100), s(200)).decision, 'finished');
  });

  void test('the gates hold for what a wave adds too: one region is not diluted among the regions before it', () => {
    const policy = threeWaves({ gates: { minReportRatio: 0.8, maxRejectRatio: 0.5, maxUnhealthyRatio: 0.05 } });
    const advanced = evaluate(start(), policy, obs(10, 10), s(30));
    const state = advanced.state;
    assert.equal(state.wave, 1);
    // 100 targeted so far, 90 reported (90 %): enough overall, but the 10 this wave adds are silent.
    const silent = { ...obs(100, 90), added: obs(10, 0) };
    const waiting = expectHold(evaluate(state, policy, silent, s(80)).decision, 'baking');
    assert.match(waiting.message, /0 of the 10 instances this wave adds reported/u);
    const late = expectFail(evaluate(state, policy, silent, s(30 + 300)).decision, 'minReportRatio');
    assert.match(late.message, /this wave adds/u);
    // 4 unhealthy of 100 (4 %) is within 5 %; 4 of the 10 it adds (40 %) is not.
    const sick = { ...obs(100, 100, 0, 4), added: obs(10, 10, 0, 4) };
    const failed = expectFail(evaluate(state, policy, sick, s(80)).decision, 'maxUnhealthyRatio');
    assert.match(failed.message, /4 of the 10 instances this wave adds report unhealthy/u);
    // The same counts without `added` (as before) pass: the dilution this prevents.
    assert.equal(evaluate(state, policy, obs(100, 100, 0, 4), s(95)).decision.kind, 'advance');
  });

  void test('bake time holds, counts to the millisecond, and tells when to look again', () => {
    const policy = threeWaves();
    const state = start();
    const hold = expectHold(evaluate(state, policy, obs(10, 10), s(29.999)).decision, 'baking');
    assert.equal(hold.bakeRemainingMs, 1);
    assert.equal(hold.recheckInMs, 1);
    assert.equal(bakedMsAt(state, s(12)), 12_000);
    assert.equal(evaluate(state, policy, obs(10, 10), s(30)).decision.kind, 'advance');
  });

  void test('pause holds past the bake, and resume continues with the bake that was left', () => {
    const policy = threeWaves();
    let state = pause(start(), s(5), 'bob', 'looking at the dashboards');
    assert.equal(state.state, 'paused');
    assert.equal(state.pausedAt, s(5));
    assert.equal(state.bakedMs, 5000);
    assert.equal(state.reason, 'looking at the dashboards');
    const held = expectHold(evaluate(state, policy, obs(10, 10), s(600)).decision, 'paused');
    assert.equal(held.bakeRemainingMs, 25_000);
    state = resume(state, s(600), 'bob');
    assert.equal(state.state, 'running');
    assert.equal(state.pausedAt, undefined);
    assert.equal(state.reason, undefined);
    assert.equal(expectHold(evaluate(state, policy, obs(10, 10), s(600)).decision, 'baking').bakeRemainingMs, 25_000);
    assert.equal(expectHold(evaluate(state, policy, obs(10, 10), s(624)).decision, 'baking').bakeRemainingMs, 1000);
    const r = evaluate(state, policy, obs(10, 10), s(625));
    assert.equal(r.decision.kind, 'advance');
    assert.deepEqual(r.state.history.map((h) => [h.from, h.to, h.actor, h.reason]).slice(1, 3), [
      ['running', 'paused', 'bob', 'looking at the dashboards'],
      ['paused', 'running', 'bob', 'resumed by bob'],
    ]);
  });

  void test('rejects fail fast, during the bake, and roll back', () => {
    const policy = threeWaves();
    const r = evaluate(start(), policy, obs(10, 3, 1), s(1));
    const fail = expectFail(r.decision, 'maxRejectRatio');
    assert.equal(fail.value, 0.1);
    assert.equal(fail.threshold, 0);
    assert.equal(fail.rolledBack, true);
    assert.equal(fail.wave, 0);
    assert.equal(r.state.state, 'rolled_back');
    assert.match(
      r.state.reason ?? '',
      /1 of 10 targeted instances rejected release 5 \(10 %\), above maxRejectRatio 0; rolled back to release 4/u,
    );
    assert.deepEqual(r.state.history.at(-1), {
      at: s(1),
      from: 'running',
      to: 'rolled_back',
      wave: 0,
      actor: 'controller',
      reason: r.state.reason,
    });
    // A tolerated share does not fail.
    const lenient = threeWaves({ gates: { maxRejectRatio: 0.1 } });
    expectHold(evaluate(start(), lenient, obs(10, 3, 1), s(1)).decision, 'baking');
    expectFail(evaluate(start(), lenient, obs(10, 3, 2), s(1)).decision, 'maxRejectRatio');
  });

  void test('unhealthy instances fail fast and roll back, above the threshold only', () => {
    const policy = threeWaves();
    expectHold(evaluate(start(), policy, obs(20, 20, 0, 1), s(1)).decision, 'baking'); // 0.05 is not above 0.05
    const r = evaluate(start(), policy, obs(20, 20, 0, 2), s(1));
    const fail = expectFail(r.decision, 'maxUnhealthyRatio');
    assert.equal(fail.value, 0.1);
    assert.equal(fail.threshold, 0.05);
    assert.equal(r.state.state, 'rolled_back');
    assert.match(r.state.reason ?? '', /report unhealthy/u);
  });

  void test('without autoRollback a failed gate pauses with the reason; resume checks again; it is not repeated while paused', () => {
    const policy = threeWaves({ autoRollback: false });
    let r = evaluate(start(), policy, obs(10, 10, 1), s(2));
    const fail = expectFail(r.decision, 'maxRejectRatio');
    assert.equal(fail.rolledBack, false);
    assert.equal(r.state.state, 'paused');
    assert.equal(r.state.pausedAt, s(2));
    assert.match(r.state.reason ?? '', /paused \(autoRollback is off\)/u);
    const paused = r.state;
    r = evaluate(paused, policy, obs(10, 10, 1), s(60));
    assert.match(expectHold(r.decision, 'paused').message, /maxRejectRatio/u);
    assert.equal(r.state, paused);
    r = evaluate(resume(paused, s(70), 'bob'), policy, obs(10, 10, 1), s(70));
    expectFail(r.decision, 'maxRejectRatio');
    assert.equal(r.state.state, 'paused');
    assert.equal(rollback(r.state, s(71), 'bob', 'bad value').state, 'rolled_back');
  });

  void test('a wave paused for missing reports (a silent region) gets a fresh report deadline when resumed', () => {
    const policy = threeWaves({ autoRollback: false }); // canary deadline max(30s, 60s) = 60s
    let r = evaluate(start(), policy, obs(10, 5), s(61));
    expectFail(r.decision, 'minReportRatio');
    assert.equal(r.state.state, 'paused');
    const resumed = resume(r.state, s(100), 'bob', 'the region is back');
    assert.equal(resumed.resumedAt, s(100));
    assert.deepEqual(parseRolloutState(JSON.parse(JSON.stringify(resumed))), resumed, 'persisted as it is');
    // Right after the resume the reports are still missing: it waits for them, as a new wave would.
    r = evaluate(resumed, policy, obs(10, 5), s(101));
    assert.match(expectHold(r.decision, 'waiting_for_reports').message, /failing in 59s/u);
    // Past the new deadline without them it fails again; with them it advances, and the next wave starts afresh.
    expectFail(evaluate(resumed, policy, obs(10, 5), s(160)).decision, 'minReportRatio');
    r = evaluate(resumed, policy, obs(10, 10), s(102));
    assert.equal(r.decision.kind, 'advance', JSON.stringify(r.decision));
    assert.equal(r.state.resumedAt, undefined);
    // Rejects are not forgiven by a resume.
    expectFail(evaluate(resumed, policy, obs(10, 10, 1), s(101)).decision, 'maxRejectRatio');
  });

  void test('a pause stops progress, not safety: rejects while paused still roll back', () => {
    const policy = threeWaves();
    const paused = pause(start(), s(1), 'bob');
    const r = evaluate(paused, policy, obs(10, 5, 5), s(2));
    expectFail(r.decision, 'maxRejectRatio');
    assert.equal(r.state.state, 'rolled_back');
    assert.equal(r.state.pausedAt, s(1));
    assert.deepEqual([r.state.history.at(-1)!.from, r.state.history.at(-1)!.to], ['paused', 'rolled_back']);
  });

  void test('missing reports hold, then fail at the report deadline: a missing signal is a failing signal', () => {
    const policy = threeWaves(); // canary bakes 30s; deadline max(30s, 60s) = 60s
    const state = start();
    expectHold(evaluate(state, policy, obs(10, 5), s(10)).decision, 'baking');
    const waiting = expectHold(evaluate(state, policy, obs(10, 5), s(45)).decision, 'waiting_for_reports');
    assert.equal(waiting.recheckInMs, 15_000);
    assert.match(
      waiting.message,
      /5 of 10 targeted instances reported \(50 %\), below minReportRatio 0\.8; failing in 15s/u,
    );
    const r = evaluate(state, policy, obs(10, 5), s(60));
    const fail = expectFail(r.decision, 'minReportRatio');
    assert.equal(fail.value, 0.5);
    assert.equal(fail.threshold, 0.8);
    assert.equal(r.state.state, 'rolled_back');
    assert.match(r.state.reason ?? '', /by the report deadline of 1m; a missing signal is a failing signal/u);
    // Enough reports just before the deadline: the wave passes.
    assert.equal(evaluate(state, policy, obs(10, 8), s(59)).decision.kind, 'advance');
  });

  void test('a report deadline shorter than the bake fails during the bake; a resume restarts it', () => {
    const policy = threeWaves({ gates: { reportDeadline: '10s' } });
    const state = start();
    const hold = expectHold(evaluate(state, policy, obs(10, 0), s(4)).decision, 'baking');
    assert.equal(hold.recheckInMs, 6000, 'the deadline comes before the end of the bake');
    expectFail(evaluate(state, policy, obs(10, 7), s(10)).decision, 'minReportRatio');
    // Paused through the deadline: nothing fails while paused; the resume gives the reports a deadline again.
    const paused = pause(state, s(5), 'bob');
    expectHold(evaluate(paused, policy, obs(10, 0), s(100)).decision, 'paused');
    const resumed = resume(paused, s(100), 'bob');
    expectHold(evaluate(resumed, policy, obs(10, 0), s(100)).decision, 'baking');
    expectFail(evaluate(resumed, policy, obs(10, 0), s(110)).decision, 'minReportRatio');
  });

  void test('a wave targeting fewer than minInstances holds, past its deadline; minInstances 0 lets an empty wave pass', () => {
    const policy = threeWaves({ gates: { minInstances: 3 } });
    const state = start();
    const hold = expectHold(evaluate(state, policy, obs(2, 2), s(3600)).decision, 'too_few_instances');
    assert.match(hold.message, /targets 2 instances; it needs at least 3/u);
    assert.equal(hold.recheckInMs, undefined);
    expectHold(evaluate(state, threeWaves(), obs(0, 0), s(3600)).decision, 'too_few_instances');
    const empty = threeWaves({ gates: { minInstances: 0 } });
    expectHold(evaluate(state, empty, obs(0, 0), s(29)).decision, 'baking');
    assert.equal(evaluate(state, empty, obs(0, 0), s(30)).decision.kind, 'advance');
    // Rejects still fail fast in a wave too small to pass.
    expectFail(evaluate(state, policy, obs(2, 1, 1), s(1)).decision, 'maxRejectRatio');
  });

  void test('freeze halts everything, even an automatic rollback, and stops the bake; unfreeze goes back', () => {
    const policy = threeWaves();
    let state = freeze(start(), s(10), 'oncall', 'incident 42');
    assert.equal(state.state, 'frozen');
    assert.equal(state.frozenFrom, 'running');
    assert.equal(state.pausedAt, s(10));
    assert.equal(state.reason, 'incident 42');
    let r = evaluate(state, policy, obs(10, 10, 10), s(500));
    expectHold(r.decision, 'frozen');
    assert.equal(r.state, state);
    state = unfreeze(state, s(500), 'oncall');
    assert.equal(state.state, 'running');
    assert.equal(state.frozenFrom, undefined);
    assert.equal(state.pausedAt, undefined);
    assert.equal(state.reason, undefined);
    r = evaluate(state, policy, obs(10, 10), s(500));
    assert.equal(
      expectHold(r.decision, 'baking').bakeRemainingMs,
      20_000,
      'the 10s baked before the freeze still count',
    );
    assert.equal(evaluate(state, policy, obs(10, 10), s(520)).decision.kind, 'advance');

    // A paused rollout frozen and unfrozen is paused again, with its reason.
    let paused = pause(start(), s(1), 'bob', 'waiting for the DBA');
    paused = freeze(paused, s(2), 'oncall');
    assert.equal(paused.frozenFrom, 'paused');
    assert.equal(paused.pausedAt, s(1));
    paused = unfreeze(paused, s(3), 'oncall');
    assert.equal(paused.state, 'paused');
    assert.equal(paused.reason, 'waiting for the DBA');
    assert.equal(paused.pausedAt, s(1));
    assert.equal(resume(paused, s(4), 'bob').state, 'running');
  });

  void test('abort and rollback work from running, paused and frozen', () => {
    const running = start();
    const paused = pause(running, s(1), 'a');
    const frozen = freeze(running, s(1), 'a');
    for (const from of [running, paused, frozen]) {
      const aborted = abort(from, s(2), 'carol', 'superseded by release 6');
      assert.equal(aborted.state, 'aborted');
      assert.equal(aborted.reason, 'superseded by release 6');
      assert.equal(aborted.frozenFrom, undefined);
      assert.deepEqual(aborted.history.at(-1), {
        at: s(2),
        from: from.state,
        to: 'aborted',
        wave: 0,
        actor: 'carol',
        reason: 'superseded by release 6',
      });
      const rolledBack = rollback(from, s(2), 'carol');
      assert.equal(rolledBack.state, 'rolled_back');
      assert.equal(rolledBack.reason, 'rolled back by carol');
      assert.equal(isActiveRollout(rolledBack), false);
    }
  });

  void test('invalid transitions are refused with invalid_transition (409) and change nothing', () => {
    const policy = threeWaves();
    const running = start();
    const paused = pause(running, s(1), 'a');
    const frozen = freeze(running, s(1), 'a');
    const succeeded = evaluate(
      evaluate(evaluate(running, policy, obs(1, 1), s(30)).state, policy, obs(1, 1), s(90)).state,
      policy,
      obs(1, 1),
      s(90),
    ).state;
    assert.equal(succeeded.state, 'succeeded');
    const rolledBack = rollback(running, s(1), 'a');
    const aborted = abort(running, s(1), 'a');
    const refused: Array<[string, () => unknown]> = [
      ['resume running', () => resume(running, s(2), 'a')],
      ['pause paused', () => pause(paused, s(2), 'a')],
      ['pause frozen', () => pause(frozen, s(2), 'a')],
      ['resume frozen', () => resume(frozen, s(2), 'a')],
      ['freeze frozen', () => freeze(frozen, s(2), 'a')],
      ['unfreeze running', () => unfreeze(running, s(2), 'a')],
      ['unfreeze paused', () => unfreeze(paused, s(2), 'a')],
    ];
    for (const finished of [succeeded, rolledBack, aborted]) {
      refused.push(
        [`resume ${finished.state}`, () => resume(finished, s(2), 'a')],
        [`pause ${finished.state}`, () => pause(finished, s(2), 'a')],
        [`freeze ${finished.state}`, () => freeze(finished, s(2), 'a')],
        [`unfreeze ${finished.state}`, () => unfreeze(finished, s(2), 'a')],
        [`abort ${finished.state}`, () => abort(finished, s(2), 'a')],
        [`rollback ${finished.state}`, () => rollback(finished, s(2), 'a')],
      );
    }
    for (const [what, command] of refused) assert.throws(command, isTransitionError, what);
    assert.throws(
      () => resume(succeeded, s(2), 'a'),
      /cannot resume rollout r-1 of payments: it is succeeded; it has finished \(resume works when it is paused\)/u,
    );
    assert.throws(() => pause(frozen, s(2), 'a'), /it is frozen; unfreeze it first/u);
    assert.equal(running.state, 'running');
    assert.equal(running.history.length, 1, 'the commands return new states');
  });

  void test('state round-trips through JSON at every step, and a reloaded state carries on where it was', () => {
    const policy = threeWaves();
    const roundTrip = (state: RolloutState): RolloutState => {
      const copy = parseRolloutState(JSON.parse(JSON.stringify(state)));
      assert.deepEqual(copy, state);
      return copy;
    };
    let state = roundTrip(start());
    state = roundTrip(pause(state, s(10), 'a'));
    state = roundTrip(freeze(state, s(11), 'a'));
    state = roundTrip(unfreeze(state, s(12), 'a'));
    state = roundTrip(resume(state, s(20), 'a'));
    // The controller stops at s(25) without persisting its holds, and a new one starts at s(45).
    expectHold(evaluate(state, policy, obs(10, 10), s(25)).decision, 'baking');
    const reloaded = roundTrip(state);
    let r = evaluate(reloaded, policy, obs(10, 10), s(45));
    assert.equal(r.decision.kind, 'advance', 'the 10s before the pause and the 25s since the resume are 30s of bake');
    state = roundTrip(r.state);
    r = evaluate(state, policy, obs(10, 10, 5), s(46));
    roundTrip(r.state);
    assert.equal(r.state.state, 'rolled_back');
    for (const broken of [
      null,
      [],
      {},
      { ...state, state: 'exploded' },
      { ...state, wave: -1 },
      { ...state, history: 'x' },
      { ...state, history: [{ at: 1 }] },
      { ...state, id: 7 },
    ]) {
      assert.throws(
        () => parseRolloutState(broken),
        (e: unknown) => e instanceof HeraldError && e.code === 'internal',
      );
    }
  });

  void test('a strategy that is not staged succeeds at once', () => {
    for (const strategy of ['immediate', 'manual']) {
      const r = evaluate(start(), parsePolicy({ strategy }), obs(0, 0), s(0));
      assert.equal(r.decision.kind, 'succeed');
      assert.equal(r.state.state, 'succeeded');
    }
  });

  void test('selectsCandidate: the current wave while active, everyone after success, no one after a rollback or abort', () => {
    const policy = threeWaves();
    const fleet = Array.from({ length: 2000 }, (_, i) => ({ instanceId: `i-${i}`, attributes: {} }));
    const count = (state: RolloutState): number =>
      fleet.filter((instance) => selectsCandidate(state, policy, instance)).length;
    const running = start();
    const canaries = count(running);
    assert.ok(canaries > 150 && canaries < 250, String(canaries));
    assert.equal(count(pause(running, s(1), 'a')), canaries);
    assert.equal(count(freeze(running, s(1), 'a')), canaries);
    const wave1 = evaluate(running, policy, obs(1, 1), s(30)).state;
    assert.ok(count(wave1) > 900 && count(wave1) < 1100);
    assert.equal(count({ ...wave1, state: 'succeeded' }), 2000);
    assert.equal(count(rollback(wave1, s(31), 'a')), 0);
    assert.equal(count(abort(wave1, s(31), 'a')), 0);
  });

  void test('history keeps the first entry and the newest ones, 200 in all', () => {
    let state = start();
    for (let i = 0; i < 150; i++) state = resume(pause(state, s(i * 2), 'a', `pause ${i}`), s(i * 2 + 1), 'a');
    assert.equal(state.history.length, 200);
    assert.equal(state.history[0]!.from, 'none');
    assert.equal(state.history[1]!.reason, 'resumed by a');
    assert.equal(state.history[2]!.reason, 'pause 51');
    assert.equal(state.history.at(-1)!.to, 'running');
  });

  void test('time never runs backwards in the state, and nonsense input is refused', () => {
    const policy = threeWaves();
    const paused = pause(start(s(100)), s(90), 'a'); // another node's clock, 10s behind
    assert.equal(paused.updatedAt, s(100));
    assert.equal(paused.bakedMs, 0);
    assert.equal(bakedMsAt(start(s(100)), s(90)), 0);
    assert.throws(() => evaluate(start(), policy, obs(-1, 0), s(1)), RangeError);
    assert.throws(
      () => evaluate(start(), policy, { targeted: 1, reported: 0.5, applied: 0, rejected: 0, unhealthy: 0 }, s(1)),
      RangeError,
    );
    assert.throws(() => evaluate(start(), policy, obs(1, 1), Number.NaN), RangeError);
    // More reports than targeted (an instance that left after reporting) count as all reported.
    assert.equal(evaluate(start(), policy, obs(3, 5), s(30)).decision.kind, 'advance');
  });
});

// --- status -------------------------------------------------------------------------------------

void describe('summarize', () => {
  void test('a running rollout: waves, counts of the current one, gates against thresholds, bake left', () => {
    const policy = threeWaves();
    const state = evaluate(start(), policy, obs(10, 10), s(30)).state;
    const summary = summarize(
      state,
      policy,
      { targeted: 50, reported: 30, applied: 29, rejected: 1, unhealthy: 2 },
      s(40),
    );
    assert.deepEqual(JSON.parse(JSON.stringify(summary)), summary, 'plain JSON');
    assert.equal(summary.state, 'running');
    assert.equal(summary.wave, 1);
    assert.equal(summary.waveName, 'half');
    assert.equal(summary.fromSeq, 4);
    assert.equal(summary.toSeq, 5);
    assert.deepEqual(summary.waves, [
      { index: 0, name: 'canary', percent: 10, bake: '30s', bakeMs: 30_000, status: 'done' },
      {
        index: 1,
        name: 'half',
        percent: 50,
        bake: '1m',
        bakeMs: 60_000,
        status: 'current',
        targeted: 50,
        reported: 30,
        applied: 29,
        rejected: 1,
        unhealthy: 2,
      },
      { index: 2, name: 'everyone', percent: 100, bake: '0s', bakeMs: 0, status: 'pending' },
    ]);
    assert.deepEqual(summary.gates, [
      { name: 'minInstances', value: 50, threshold: 1, pass: true, status: 'pass' },
      { name: 'minReportRatio', value: 0.6, threshold: 0.8, pass: false, status: 'waiting' },
      { name: 'maxRejectRatio', value: 0.02, threshold: 0, pass: false, status: 'fail' },
      { name: 'maxUnhealthyRatio', value: 0.04, threshold: 0.05, pass: true, status: 'pass' },
    ]);
    assert.equal(summary.bakeRemainingMs, 50_000);
    assert.equal(summary.bakedMs, 10_000);
    assert.equal(summary.reportDeadlineAt, s(90));
    assert.equal(summary.next.kind, 'fail', 'what evaluate would decide');
    assert.equal(summary.reason, null);
    assert.equal(summary.pausedAt, null);
    assert.equal(summary.autoRollback, true);
  });

  void test('a healthy wave shows its hold; a paused one its reason and frozen bake; a finished one no bake', () => {
    const policy = threeWaves();
    const running = summarize(start(), policy, obs(10, 10), s(12));
    assert.deepEqual(running.next, { kind: 'hold', why: 'baking', message: 'wave 0 "canary": baking, 18s left' });
    assert.ok(running.gates.every((g) => g.pass && g.status === 'pass'));
    const paused = summarize(pause(start(), s(12), 'bob', 'lunch'), policy, obs(10, 10), s(500));
    assert.equal(paused.state, 'paused');
    assert.equal(paused.bakeRemainingMs, 18_000);
    assert.equal(paused.reason, 'lunch');
    assert.equal(paused.pausedAt, s(12));
    assert.equal(paused.next.why, 'paused');
    const done = evaluate(
      evaluate(evaluate(start(), policy, obs(1, 1), s(30)).state, policy, obs(1, 1), s(90)).state,
      policy,
      obs(1, 1),
      s(90),
    ).state;
    const finished = summarize(done, policy, obs(100, 100), s(100));
    assert.equal(finished.state, 'succeeded');
    assert.deepEqual(
      finished.waves.map((w) => w.status),
      ['done', 'done', 'done'],
    );
    assert.equal(finished.bakeRemainingMs, 0);
    assert.equal(finished.reportDeadlineAt, null);
    assert.equal(finished.next.why, 'finished');
    const failed = summarize(rollback(start(), s(1), 'bob', 'bad'), policy, obs(10, 1, 1), s(2));
    assert.deepEqual(
      failed.waves.map((w) => w.status),
      ['current', 'pending', 'pending'],
    );
    assert.equal(failed.reason, 'bad');
    const direct = summarize(start(), parsePolicy({ strategy: 'manual' }), obs(0, 0), s(0));
    assert.deepEqual([direct.waves, direct.gates, direct.waveName, direct.next.kind], [[], [], null, 'succeed']);
  });
});
