import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkJsonDepth,
  checkKey,
  checkLabel,
  checkLabels,
  checkNamespaceName,
  checkTags,
  defaultLimits,
  HeraldError,
  jsonDepth,
  printable,
  type ErrorCode,
} from '../src/index.js';

function rejects(fn: () => void, code: ErrorCode, messageIncludes?: string): HeraldError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HeraldError, `expected a HeraldError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (messageIncludes !== undefined) assert.ok(caught.message.includes(messageIncludes), caught.message);
  return caught;
}

// Every C0 control, DEL and every C1 control.
const controlCharacters = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  '\u007f',
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)),
];

void describe('checkNamespaceName', () => {
  void test('accepts plain lower-case names of 1 to 64 characters', () => {
    for (const name of [
      'a',
      '0',
      'payments',
      'team-a',
      'team_a',
      'team.a',
      'a1-b2_c3.d4',
      'a'.repeat(64),
      `a${'-'.repeat(62)}b`,
    ]) {
      assert.doesNotThrow(() => checkNamespaceName(name), name);
    }
  });

  void test('refuses empty, too long, upper case, edge punctuation and anything outside a-z 0-9 . _ -', () => {
    const bad = [
      '',
      'a'.repeat(65),
      'Payments',
      'A',
      '-a',
      'a-',
      '.a',
      'a.',
      '_a',
      'a_',
      'a/b',
      'a b',
      'a*',
      'a?',
      'ä',
      'a%',
      'a\n',
      '\na',
      'a\u0000',
      'é',
    ];
    for (const name of bad) rejects(() => checkNamespaceName(name), 'invalid_namespace_name');
  });

  void test('the error message shows control characters escaped', () => {
    const error = rejects(() => checkNamespaceName('a\nFAKE LOG LINE'), 'invalid_namespace_name');
    assert.ok(!error.message.includes('\n'));
    assert.ok(error.message.includes('a\\nFAKE LOG LINE'));
  });
});

void describe('checkKey', () => {
  const limits = defaultLimits;

  void test('accepts any Unicode except "%", the way Azure App Configuration does', () => {
    const good = [
      'db/pool/max',
      'a',
      'a.b',
      '...',
      '.hidden',
      'trailing.',
      'a/../b',
      './a',
      ' ',
      'with space',
      'a:b',
      'a*b',
      'a,b',
      'a\\b',
      'a"b',
      "a'b",
      '<tag>',
      '#?&=+',
      'ключ',
      '設定/値',
      'مفتاح',
      '😀',
      '👩‍👩‍👧',
      '\u00a0', // no-break space: the first character after the C1 range
      '\ufffd',
      '\uffff',
      '\u{10ffff}',
    ];
    for (const key of good) assert.doesNotThrow(() => checkKey(key, limits), JSON.stringify(key));
  });

  void test('refuses the empty key', () => {
    rejects(() => checkKey('', limits), 'invalid_key', 'empty');
  });

  void test('refuses "%" anywhere', () => {
    for (const key of ['%', 'a%b', '%20', 'a%', '%a', '100%']) rejects(() => checkKey(key, limits), 'invalid_key', '%');
  });

  void test('refuses "." and ".." as a whole key only', () => {
    rejects(() => checkKey('.', limits), 'invalid_key');
    rejects(() => checkKey('..', limits), 'invalid_key');
    for (const key of ['...', '.a', 'a.', '..a', 'a..', 'a/./b', 'a/../b'])
      assert.doesNotThrow(() => checkKey(key, limits), key);
  });

  void test('refuses every control character (C0, DEL, C1), wherever it is', () => {
    for (const c of controlCharacters) {
      for (const key of [c, `a${c}`, `${c}a`, `a${c}b`]) rejects(() => checkKey(key, limits), 'invalid_key');
    }
  });

  void test('the error message never carries a raw control character', () => {
    const error = rejects(() => checkKey('evil\r\nINFO forged', limits), 'invalid_key');
    assert.ok(!/[\r\n]/u.test(error.message), error.message);
  });

  void test('refuses lone surrogates, which have no UTF-8 encoding', () => {
    for (const key of ['\ud800', '\udbff', '\udc00', '\udfff', 'a\ud83d', '\ude00a', 'a\ud83db', '\ude00\ud83d']) {
      rejects(() => checkKey(key, limits), 'invalid_key');
    }
    // A proper pair is fine.
    assert.doesNotThrow(() => checkKey('\ud83d\ude00', limits));
  });

  void test('the length limit is exact at the boundary', () => {
    assert.doesNotThrow(() => checkKey('k'.repeat(limits.maxKeyLength), limits));
    rejects(() => checkKey('k'.repeat(limits.maxKeyLength + 1), limits), 'invalid_key', String(limits.maxKeyLength));
    assert.doesNotThrow(() => checkKey('abc', { maxKeyLength: 3 }));
    rejects(() => checkKey('abcd', { maxKeyLength: 3 }), 'invalid_key');
    assert.doesNotThrow(() => checkKey('a', { maxKeyLength: 1 }));
    rejects(() => checkKey('ab', { maxKeyLength: 1 }), 'invalid_key');
  });

  void test('a very long key is refused without echoing it whole', () => {
    const error = rejects(() => checkKey(`${'x'.repeat(100)}%`, limits), 'invalid_key');
    assert.ok(error.message.length < 200, error.message);
  });
});

void describe('checkLabel and checkLabels', () => {
  void test('the empty label is the "no label" label and is accepted', () => {
    assert.doesNotThrow(() => checkLabel('', defaultLimits));
  });

  void test('labels follow the key rules', () => {
    for (const label of ['prod', 'prod/westeurope', 'a.b', '...', 'ünïcode', '😀']) {
      assert.doesNotThrow(() => checkLabel(label, defaultLimits), label);
    }
    for (const label of ['.', '..', '%', 'a%b', 'a\u0000', '\u007f', '\u0085', '\ud800', 'a\udc00']) {
      rejects(() => checkLabel(label, defaultLimits), 'invalid_label');
    }
  });

  void test('the label length limit is exact at the boundary', () => {
    assert.doesNotThrow(() => checkLabel('l'.repeat(defaultLimits.maxLabelLength), defaultLimits));
    rejects(() => checkLabel('l'.repeat(defaultLimits.maxLabelLength + 1), defaultLimits), 'invalid_label');
  });

  void test('checkLabels bounds the count exactly and checks each label', () => {
    const limits = { maxLabels: 3, maxLabelLength: 10 };
    assert.doesNotThrow(() => checkLabels([], limits));
    assert.doesNotThrow(() => checkLabels(['', 'a', 'b'], limits));
    rejects(() => checkLabels(['', 'a', 'b', 'c'], limits), 'too_many_labels');
    rejects(() => checkLabels(['ok', 'b%d'], limits), 'invalid_label');
    rejects(() => checkLabels(['ok', 'x'.repeat(11)], limits), 'invalid_label');
  });
});

void describe('checkTags', () => {
  const limits = { maxTags: 3, maxTagLength: 5 };

  void test('accepts no tags and up to the limit', () => {
    assert.doesNotThrow(() => checkTags({}, limits));
    assert.doesNotThrow(() => checkTags({ a: '1', b: '', c: '12345' }, limits));
  });

  void test('the count limit is exact', () => {
    rejects(() => checkTags({ a: '', b: '', c: '', d: '' }, limits), 'invalid_tags');
  });

  void test('names must be non-empty', () => {
    rejects(() => checkTags({ '': 'x' }, limits), 'invalid_tags');
  });

  void test('name and value lengths are exact at the boundary', () => {
    assert.doesNotThrow(() => checkTags({ abcde: 'vwxyz' }, limits));
    rejects(() => checkTags({ abcdef: 'v' }, limits), 'invalid_tags');
    rejects(() => checkTags({ a: 'uvwxyz' }, limits), 'invalid_tags');
  });

  void test('control characters are refused in names and values', () => {
    rejects(() => checkTags({ 'a\n': 'v' }, limits), 'invalid_tags');
    rejects(() => checkTags({ a: 'v\u0000' }, limits), 'invalid_tags');
    rejects(() => checkTags({ a: '\u009b' }, limits), 'invalid_tags');
  });
});

void describe('jsonDepth and checkJsonDepth', () => {
  void test('scalars have depth 0, each container level adds one', () => {
    for (const scalar of [null, 0, 1.5, '', 'text', true, false]) assert.equal(jsonDepth(scalar), 0);
    assert.equal(jsonDepth([]), 1);
    assert.equal(jsonDepth({}), 1);
    assert.equal(jsonDepth([1, 'a', null]), 1);
    assert.equal(jsonDepth([[]]), 2);
    assert.equal(jsonDepth({ a: { b: [1] } }), 3);
    assert.equal(jsonDepth({ a: 1, b: [], c: { d: { e: {} } } }), 4);
  });

  void test('the deepest branch counts, wherever it is', () => {
    assert.equal(jsonDepth([[[[1]]], 2, [3]]), 4);
    assert.equal(jsonDepth([1, [2], [[3]], [[[4]]]]), 4);
    assert.equal(jsonDepth({ z: { y: {} }, a: 1 }), 3);
  });

  void test('is iterative: a 100,000-deep array does not overflow the stack', () => {
    let deep: unknown = [];
    for (let i = 1; i < 100_000; i += 1) deep = [deep];
    assert.equal(jsonDepth(deep), 100_000);
    const error = (() => {
      try {
        checkJsonDepth(deep, defaultLimits);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(error instanceof HeraldError);
    assert.equal(error.code, 'json_too_deep');
  });

  void test('is iterative on deep objects too', () => {
    let deep: unknown = {};
    for (let i = 1; i < 100_000; i += 1) deep = { a: deep };
    assert.equal(jsonDepth(deep), 100_000);
  });

  void test('handles a value parsed from hostile JSON text', () => {
    const text = '['.repeat(50_000) + ']'.repeat(50_000);
    assert.equal(jsonDepth(JSON.parse(text)), 50_000);
  });

  void test('checkJsonDepth is exact at the limit', () => {
    const nest = (depth: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < depth; i += 1) value = { v: value };
      return value;
    };
    assert.doesNotThrow(() => checkJsonDepth(nest(defaultLimits.maxJsonDepth), defaultLimits));
    rejects(() => checkJsonDepth(nest(defaultLimits.maxJsonDepth + 1), defaultLimits), 'json_too_deep');
    assert.doesNotThrow(() => checkJsonDepth('scalar', { maxJsonDepth: 0 }));
    rejects(() => checkJsonDepth([], { maxJsonDepth: 0 }), 'json_too_deep');
  });
});

void describe('printable', () => {
  void test('escapes control characters and quotes, keeps other Unicode', () => {
    assert.equal(printable('a\nb'), 'a\\nb');
    assert.equal(printable('\u0000'), '\\u0000');
    assert.equal(printable('say "hi"'), 'say \\"hi\\"');
    assert.equal(printable('ключ 😀'), 'ключ 😀');
  });

  void test('shortens long text to 80 characters', () => {
    assert.equal(printable('x'.repeat(80)), 'x'.repeat(80));
    const shortened = printable('x'.repeat(81));
    assert.equal(shortened, `${'x'.repeat(77)}...`);
    assert.equal(shortened.length, 80);
  });
});
