import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from '../src/index.js';

// IEEE 754 double from its 16 hex digits, as RFC 8785 Appendix B lists them.
function double(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

void test('RFC 8785 section 3.2.2 example: whitespace, literals, numbers and string escapes', () => {
  const input = JSON.parse(`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
    "literals": [null, true, false]
  }`) as unknown;
  assert.equal(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

void test('RFC 8785 section 3.2.3 example: properties sorted by UTF-16 code units', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  assert.equal(
    canonicalJson(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

void test('RFC 8785 Appendix B: number serialization', () => {
  const cases: Array<[string, string]> = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [hex, expected] of cases) assert.equal(canonicalJson(double(hex)), expected, hex);
  assert.equal(canonicalJson(1e21), '1e+21');
  assert.equal(canonicalJson(1e20), '100000000000000000000');
  assert.equal(canonicalJson(-0), '0');
  assert.equal(canonicalJson([-0, { a: -0 }]), '[0,{"a":0}]');
});

void test('NaN and infinities have no canonical form', () => {
  for (const value of [NaN, Infinity, -Infinity, [1, NaN], { a: Infinity }]) assert.throws(() => canonicalJson(value));
});

void test('strings: only the mandatory escapes, other Unicode as is', () => {
  assert.equal(canonicalJson('\u0000\u0008\t\n\u000b\f\r\u001f'), '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f"');
  assert.equal(canonicalJson('"\\/'), '"\\"\\\\/"');
  assert.equal(canonicalJson('\u007f\u0080 é 設定 😀 \u2028'), '"\u007f\u0080 é 設定 😀 \u2028"');
});

void test('nested objects are sorted at every level; arrays keep their order', () => {
  assert.equal(
    canonicalJson({ b: { d: 1, c: [3, 2, { z: 0, y: 1 }] }, a: null }),
    '{"a":null,"b":{"c":[3,2,{"y":1,"z":0}],"d":1}}',
  );
  assert.equal(canonicalJson({ b: 1, a: 2 }), canonicalJson({ a: 2, b: 1 }));
  assert.equal(canonicalJson({ aa: 1, a: 2, B: 3, _: 4, '': 5 }), '{"":5,"B":3,"_":4,"a":2,"aa":1}');
});

void test('undefined members are left out, as JSON.stringify does; undefined in arrays is null', () => {
  assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  assert.equal(canonicalJson([undefined]), '[null]');
});

void test('a value with no JSON encoding at all is a TypeError', () => {
  assert.throws(() => canonicalJson(undefined), TypeError);
});

void test('scalars and empty containers', () => {
  assert.equal(canonicalJson(null), 'null');
  assert.equal(canonicalJson(true), 'true');
  assert.equal(canonicalJson('x'), '"x"');
  assert.equal(canonicalJson([]), '[]');
  assert.equal(canonicalJson({}), '{}');
});

void test('the output re-parses to the same value', () => {
  const value = { z: [1, 2.5, 'three', { y: null, x: true }], a: { '😀': 'ok', é: -1e-7 } };
  assert.deepEqual(JSON.parse(canonicalJson(value)), value);
});
