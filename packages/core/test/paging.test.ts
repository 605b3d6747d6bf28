import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCursor, encodeCursor, HeraldError } from '../src/index.js';

function isInvalidCursor(error: unknown): boolean {
  return error instanceof HeraldError && error.code === 'invalid_cursor' && error.status === 400;
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

void test('cursors round-trip for every shape', () => {
  const cases: Array<[Array<string | number>, Array<'string' | 'number'>]> = [
    [['payments'], ['string']],
    [[''], ['string']],
    [
      ['db/pool/max', 'prod'],
      ['string', 'string'],
    ],
    [['ключ 😀 "quoted" \\ %'], ['string']],
    [[0], ['number']],
    [[42], ['number']],
    [[Number.MAX_SAFE_INTEGER], ['number']],
    [
      ['a', 7],
      ['string', 'number'],
    ],
    [[], []],
  ];
  for (const [position, shape] of cases) {
    assert.deepEqual(decodeCursor(encodeCursor(position), shape), position);
  }
});

void test('cursors are URL-safe and opaque', () => {
  const cursor = encodeCursor(['???>>>~~~', 'ÿÿÿ']);
  assert.match(cursor, /^[A-Za-z0-9_-]+$/u);
  assert.ok(!cursor.includes('???'));
});

void test('forged cursors that are not base64url JSON give invalid_cursor', () => {
  for (const forged of ['', '!!!!', 'not a cursor', b64('not json'), b64('[1,'), b64('{"a":1'), '%%%']) {
    assert.throws(() => decodeCursor(forged, ['string']), isInvalidCursor, forged);
  }
});

void test('cursors of the wrong shape give invalid_cursor', () => {
  const forged: Array<[string, Array<'string' | 'number'>]> = [
    [b64('{}'), ['string']],
    [b64('"payments"'), ['string']],
    [b64('42'), ['number']],
    [b64('null'), ['string']],
    [b64('[]'), ['string']],
    [b64('["a","b"]'), ['string']],
    [b64('["a"]'), ['string', 'string']],
    [b64('[1]'), ['string']],
    [b64('["1"]'), ['number']],
    [b64('[null]'), ['string']],
    [b64('[true]'), ['number']],
    [b64('[["a"]]'), ['string']],
    [b64('[{"a":1}]'), ['string']],
    [encodeCursor(['a', 'b']), ['string', 'number']],
  ];
  for (const [cursor, shape] of forged) {
    assert.throws(() => decodeCursor(cursor, shape), isInvalidCursor, Buffer.from(cursor, 'base64url').toString());
  }
});

void test('a forged cursor with a non-finite number gives invalid_cursor, not Infinity', () => {
  // JSON.parse turns 1e999 into Infinity, which a database cannot bind as a revision.
  for (const text of ['[1e999]', '[-1e999]']) {
    assert.throws(() => decodeCursor(b64(text), ['number']), isInvalidCursor, text);
  }
});
