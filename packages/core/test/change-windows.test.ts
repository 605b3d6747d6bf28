import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockingWindow, parseApprovalRule, parseWindows } from '../src/index.js';

const weekend = parseWindows([
  { name: 'weekend', weekly: { from: 'Fri 16:00', to: 'Mon 08:00', timeZone: 'Europe/Berlin' } },
]);
const at = (iso: string) => Date.parse(iso);
const block = (iso: string, windows = weekend) => blockingWindow([{ scope: 'app', windows }], at(iso));

void test('a weekly window blocks in its time zone and ends at its local end time', () => {
  // 2026-12-04 is a Friday; Berlin is UTC+1 in December.
  assert.equal(block('2026-12-04T14:59:00Z'), undefined, 'Fri 15:59 Berlin is before the window');
  const inside = block('2026-12-04T15:00:00Z');
  assert.equal(inside?.until, at('2026-12-07T07:00:00Z'), 'Mon 08:00 Berlin');
  assert.equal(inside?.scope, 'app');
  assert.match(
    inside?.describe ?? '',
    /"weekend" \(Fri 16:00 → Mon 08:00 Europe\/Berlin\) until 2026-12-07T07:00:00\.000Z/u,
  );
  assert.equal(block('2026-12-06T12:00:00Z')?.until, at('2026-12-07T07:00:00Z'), 'Sunday is inside');
  assert.equal(block('2026-12-07T07:00:00Z'), undefined, 'Mon 08:00 Berlin is the end, outside');
  assert.equal(block('2026-12-02T12:00:00Z'), undefined, 'Wednesday is outside');
});

void test('a weekly window follows the zone across daylight saving time', () => {
  // Summer: Berlin is UTC+2, so Fri 16:00 is 14:00Z (2026-07-03 is a Friday).
  assert.equal(block('2026-07-03T13:59:00Z'), undefined);
  assert.equal(block('2026-07-03T14:00:00Z')?.until, at('2026-07-06T06:00:00Z'));
  // The window of 2026-10-23..26 spans the change back to UTC+1 (Sunday 25 October).
  assert.equal(block('2026-10-24T12:00:00Z')?.until, at('2026-10-26T07:00:00Z'));
});

void test('a one-off range blocks from its start up to its end; windows that overlap are followed to the last end', () => {
  const freeze = parseWindows([
    { name: 'year end', from: '2026-12-20T00:00:00Z', to: '2026-12-28T00:00:00+00:00' },
    { name: 'after', from: '2026-12-27T00:00:00Z', to: '2027-01-04T09:00:00Z' },
  ]);
  assert.equal(block('2026-12-19T23:59:59Z', freeze), undefined);
  const inside = block('2026-12-20T00:00:00Z', freeze);
  assert.equal(inside?.window.name, 'year end');
  assert.equal(inside?.until, at('2027-01-04T09:00:00Z'));
  assert.equal(block('2027-01-04T09:00:00Z', freeze), undefined);
});

void test('windows are checked: days, times, zones and offsets', () => {
  assert.throws(
    () => parseWindows([{ weekly: { from: 'Fry 16:00', to: 'Mon 08:00', timeZone: 'UTC' } }]),
    /not a day and time/u,
  );
  assert.throws(
    () => parseWindows([{ weekly: { from: 'Fri 24:00', to: 'Mon 08:00', timeZone: 'UTC' } }]),
    /not a day/u,
  );
  assert.throws(
    () => parseWindows([{ weekly: { from: 'Fri 16:00', to: 'Mon 08:00', timeZone: 'Mars/Base' } }]),
    /IANA/u,
  );
  assert.throws(() => parseWindows([{ from: '2026-12-20T00:00:00', to: '2026-12-28T00:00:00Z' }]), /offset/u);
  assert.throws(() => parseWindows([{ from: '2026-12-28T00:00:00Z', to: '2026-12-20T00:00:00Z' }]), /before/u);
  assert.throws(() => parseWindows({}), /list/u);
});

void test('approval rules: required 0 turns approval off; the rest is checked', () => {
  assert.equal(parseApprovalRule({ required: 0 }), null);
  assert.deepEqual(parseApprovalRule({ required: 2 }), { required: 2, releases: false });
  assert.deepEqual(parseApprovalRule({ required: 1, approvers: ['alice'], releases: true }), {
    required: 1,
    approvers: ['alice'],
    releases: true,
  });
  assert.throws(() => parseApprovalRule({ required: 1.5 }), /whole number/u);
  assert.throws(() => parseApprovalRule({ required: 1, approvers: [] }), /approvers/u);
  assert.throws(() => parseApprovalRule({ required: 1, who: 1 }), /unknown field/u);
});
