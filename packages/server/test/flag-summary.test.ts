// The flags summary's pure rules: which entries are flags, stale flags, and the rollout position.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flagContentType } from '@herald/flags';
import { noUsage, summariseFlags, type FlagEntry } from '../src/flags/flag-summary.js';

const day = 86_400_000;
const now = 100 * day;
const entry = (key: string, changedAt: number, defaultVariant = 'off'): FlagEntry => ({
  key,
  contentType: flagContentType,
  value: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant },
  revision: 1,
  changedAt,
});

void test('stale: not evaluated for N days, or never evaluated and unchanged for N days', () => {
  const entries = [
    entry('old-unused', now - 8 * day),
    entry('new-unused', now - day),
    entry('used-long-ago', now - 30 * day),
    entry('used', now - 30 * day),
  ];
  const usage = {
    ...noUsage,
    last: new Map([
      ['used-long-ago', now - 8 * day],
      ['used', now - day],
    ]),
  };
  const stale = (days: number) =>
    summariseFlags({ entries, usage, rollout: undefined, now, staleAfterDays: days }).map((f) => [f.key, f.stale]);
  assert.deepEqual(stale(7), [
    ['new-unused', false],
    ['old-unused', true],
    ['used', false],
    ['used-long-ago', true],
  ]);
  assert.deepEqual(
    stale(10).filter(([, s]) => s),
    [],
  );
});

void test('a flag is in the rollout only when the candidate changes it', () => {
  const same = entry('same', 0);
  const changed = entry('changed', 0, 'on');
  const added = entry('added', 0);
  const rollout = {
    seq: 3,
    state: 'in-progress',
    wave: 'canary',
    stable: new Map([
      ['same', same],
      ['changed', entry('changed', 0, 'off')],
    ]),
    candidate: new Map([
      ['same', same],
      ['changed', changed],
      ['added', added],
    ]),
  };
  const items = summariseFlags({ entries: [same, changed, added], usage: noUsage, rollout, now, staleAfterDays: 7 });
  assert.deepEqual(
    items.map((f) => [f.key, f.rollout]),
    [
      ['added', { seq: 3, state: 'in-progress', wave: 'canary', stable: null }],
      [
        'changed',
        { seq: 3, state: 'in-progress', wave: 'canary', stable: { state: 'ENABLED', defaultVariant: 'off' } },
      ],
      ['same', null],
    ],
  );
});
