// The shared parsing of flag values: usage errors (exit 2) that name the flag.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultUrl,
  parseCount,
  parseListen,
  parsePair,
  parsePairs,
  parseRevision,
  requireToken,
  resolveUrl,
} from '../src/flags.js';
import { CliError } from '../src/output.js';

const usage = (flag: string) => (error: unknown) =>
  error instanceof CliError && error.exitCode === 2 && error.message.includes(flag);

void describe('flags', () => {
  void it('url: the flag, else HERALD_URL, else the default; an empty HERALD_URL is unset', () => {
    assert.equal(resolveUrl({ url: 'http://a' }, { HERALD_URL: 'http://b' }), 'http://a');
    assert.equal(resolveUrl({}, { HERALD_URL: 'http://b' }), 'http://b');
    assert.equal(resolveUrl({}, { HERALD_URL: '' }), defaultUrl);
    assert.equal(resolveUrl({}, {}), defaultUrl);
  });

  void it('token: the flag, else HERALD_TOKEN; none is a usage error', () => {
    assert.equal(requireToken({ token: 't1' }, { HERALD_TOKEN: 't2' }), 't1');
    assert.equal(requireToken({}, { HERALD_TOKEN: 't2' }), 't2');
    assert.throws(() => requireToken({}, { HERALD_TOKEN: '' }), usage('HERALD_TOKEN'));
  });

  void it('NAME=VALUE pairs: the value may be empty or hold "="; the name may not be empty', () => {
    assert.deepEqual(parsePair('a=b=c', '--tag'), ['a', 'b=c']);
    assert.deepEqual(parsePair('a=', '--tag'), ['a', '']);
    assert.throws(() => parsePair('=b', '--tag'), usage('--tag'));
    assert.throws(() => parsePair('ab', '--attr'), usage('--attr'));
    assert.deepEqual(parsePairs(['a=1', 'b=2', 'a=3'], '--tag'), { a: '3', b: '2' });
    assert.equal(Object.getPrototypeOf(parsePairs(['__proto__=x'], '--tag')), Object.prototype);
  });

  void it('numbers: revisions from 0, counts within bounds', () => {
    assert.equal(parseRevision('0', '--to'), 0);
    assert.throws(() => parseRevision('-1', '--to'), usage('--to'));
    assert.throws(() => parseRevision('1.5', '--to'), usage('--to'));
    assert.equal(parseCount('20000', '--instances', 1, 20_000), 20_000);
    assert.throws(() => parseCount('20001', '--instances', 1, 20_000), usage('--instances'));
    assert.throws(() => parseCount('0', '--expires-in'), usage('--expires-in'));
    assert.throws(() => parseCount('1e3', '--expires-in'), usage('--expires-in'));
  });

  void it('listen addresses: HOST:PORT, IPv6 in brackets', () => {
    assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('[::1]:8420'), { host: '::1', port: 8420 });
    for (const bad of ['nonsense', '127.0.0.1:', ':8420', '127.0.0.1:99999'])
      assert.throws(() => parseListen(bad), usage('--listen'));
  });
});
