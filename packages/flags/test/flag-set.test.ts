// The pure flag model: what a targeting rule can return, which flags a new view changed (shared
// evaluators included), the Azure schema's extra rules, and OFREP's bulk ETag.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AzureFlagValidator,
  evaluateAll,
  FlagRules,
  FlagSet,
  flagContentType,
  isFlagDefinition,
  needsTargetingKey,
  outcomesOf,
} from '@herald/flags';

const flag = (targeting?: unknown) => ({
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant: 'off',
  ...(targeting === undefined ? {} : { targeting }),
});

void describe('targeting analysis', () => {
  void it('collects the literal variants a rule can return, with the path of each', () => {
    const outcomes = outcomesOf({
      if: [{ '==': [{ var: 'a' }, 1] }, 'on', { fractional: [{ var: 'email' }, ['x', 1], ['off', 1]] }],
    });
    assert.deepEqual(
      [...outcomes.names],
      [
        ['on', '/targeting/if/1'],
        ['x', '/targeting/if/2/fractional/1/0'],
        ['off', '/targeting/if/2/fractional/2/0'],
      ],
    );
    assert.equal(outcomes.dynamic, false);
    assert.equal(outcomesOf({ var: 'plan' }).dynamic, true);
    assert.deepEqual([...outcomesOf({ if: [true, 'on'] }).names.keys()], ['on'], 'no else: null, the default');
  });

  void it('knows when fractional buckets by the targeting key', () => {
    assert.equal(
      needsTargetingKey({
        fractional: [
          ['on', 1],
          ['off', 1],
        ],
      }),
      true,
    );
    assert.equal(needsTargetingKey({ fractional: [{ var: 'email' }, ['on', 1]] }), false);
    assert.equal(needsTargetingKey({ if: [true, { fractional: [['on', 1]] }, 'off'] }), true);
  });
});

void describe('FlagSet', () => {
  void it('reads flags by shape and lists the flags a new view changed, through their shared evaluators', () => {
    const before = FlagSet.fromView({
      $evaluators: { staff: { '==': [{ var: 'team' }, 'core'] } },
      a: flag({ if: [{ $ref: 'staff' }, 'on', 'off'] }),
      b: flag(),
      config: { state: 'not a flag' },
    });
    assert.deepEqual(before.keys, ['a', 'b']);
    assert.equal(isFlagDefinition({ state: 'ENABLED', variants: {} }), true);
    const after = FlagSet.fromView({
      $evaluators: { staff: { '==': [{ var: 'team' }, 'web'] } },
      a: flag({ if: [{ $ref: 'staff' }, 'on', 'off'] }),
      b: flag(),
      c: flag(),
    });
    assert.deepEqual(after.changedSince(before), ['a', 'c']);
    assert.deepEqual(FlagSet.fromView({}).changedSince(after), ['a', 'b', 'c']);
  });

  void it('answers a broken look-alike with PARSE_ERROR and keeps the others', () => {
    const flags = FlagSet.fromView({
      good: flag(),
      bad: { state: 'ENABLED', variants: { a: 1 }, defaultVariant: 'z' },
    });
    assert.equal(flags.resolve('boolean', 'good', true, {}).value, false);
    const bad = flags.resolve('number', 'bad', 5, {});
    assert.deepEqual([bad.value, bad.errorCode], [5, 'PARSE_ERROR']);
  });
});

void describe('OFREP bulk', () => {
  void it('gives the same ETag to the same answer and a 304 to it, another to another context', () => {
    const flags = FlagSet.fromView({ a: flag({ if: [{ '==': [{ var: 'x' }, 1] }, 'on', 'off'] }) });
    const first = evaluateAll(flags, { context: { x: 1 } }, undefined);
    assert.equal(first.status, 200);
    assert.equal(evaluateAll(flags, { context: { x: 1 } }, `W/${first.etag ?? ''}`).status, 304);
    const other = evaluateAll(flags, { context: { x: 2 } }, first.etag);
    assert.equal(other.status, 200);
    assert.notEqual(other.etag, first.etag);
  });
});

void describe('Azure flags', () => {
  void it('checks what the schema cannot: the id, allocated variants, percentile ranges', () => {
    const validator = new AzureFlagValidator();
    const key = '.appconfig.featureflag/Beta';
    assert.deepEqual(validator.problems(key, { id: 'Beta', enabled: true }), []);
    const problems = validator.problems(key, {
      id: 'Beta',
      variants: [{ name: 'A' }],
      allocation: { default_when_enabled: 'B', percentile: [{ variant: 'A', from: 60, to: 40 }] },
    });
    assert.deepEqual(
      problems.map((p) => p.path),
      ['/allocation/default_when_enabled', '/allocation/percentile/0'],
    );
  });

  void it('are told apart from Herald flags by key and content type', () => {
    const rules = new FlagRules();
    assert.equal(rules.applies('x', 'application/json'), false);
    assert.equal(rules.applies('x', flagContentType), true);
    assert.equal(rules.applies('.appconfig.featureflag/X', 'application/vnd.microsoft.appconfig.ff+json'), true);
    assert.equal(rules.applies('.appconfig.featureflag/X', 'text/plain'), false);
    assert.equal(rules.applies('$evaluators', 'application/json'), true);
  });
});
