import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWatchEvent, watchEventNames, type WatchEvent } from '../src/index.js';

const manifest = {
  namespace: 'app',
  labels: [''],
  secrets: false,
  seq: 2,
  revision: 9,
  digest: 'a'.repeat(64),
  issuedAt: 1,
  keyId: 'k-1',
};
const key = { keyId: 'k-1', publicKey: 'AAAA', createdAt: 1 };

const good: Record<WatchEvent['event'], unknown> = {
  hello: { revision: 9, heartbeatMs: 15_000, keys: [key] },
  snapshot: { view: '["app",[""],false]', manifest, signature: 'sig', values: { a: 1 } },
  delta: {
    view: '["app",[""],false]',
    fromSeq: 1,
    fromDigest: 'b'.repeat(64),
    manifest,
    signature: 'sig',
    set: { a: 1 },
    remove: ['b'],
  },
  heartbeat: { at: 5, revision: 9 },
  keys: { keys: [key, { ...key, keyId: 'k-2', endorsedBy: { keyId: 'k-1', signature: 's' } }] },
  'view-error': { view: '["app",[""],false]', code: 'namespace_not_found', detail: 'gone' },
};

void describe('parseWatchEvent', () => {
  void it('reads every event of the protocol into the union, data as sent', () => {
    assert.deepEqual(Object.keys(good).sort(), [...watchEventNames].sort());
    for (const [name, data] of Object.entries(good)) {
      const parsed = parseWatchEvent(name, JSON.stringify(data));
      assert.equal(parsed.status, 'ok', name);
      if (parsed.status === 'ok') assert.deepEqual(parsed.event, { event: name, data });
    }
  });

  void it('says which data is not JSON, or not an object', () => {
    assert.deepEqual(parseWatchEvent('hello', '{'), {
      status: 'invalid',
      name: 'hello',
      reason: 'is not JSON',
      data: undefined,
    });
    for (const text of ['1', 'null', '[]', '"x"'])
      assert.equal(parseWatchEvent('heartbeat', text).status, 'invalid', text);
  });

  void it('leaves events it does not know to the caller, as unknown', () => {
    assert.deepEqual(parseWatchEvent('news', '{"a":1}'), { status: 'unknown', name: 'news', data: { a: 1 } });
  });

  void it('refuses a known event with a member missing or of the wrong type, keeping its data', () => {
    const broken: Array<[string, Record<string, unknown>]> = [
      ['hello', { revision: 9, keys: [] }],
      ['hello', { revision: 9, heartbeatMs: 0, keys: [] }],
      ['hello', { revision: 9, heartbeatMs: 10, keys: [{ keyId: 1 }] }],
      ['snapshot', { ...(good.snapshot as object), signature: 7 }],
      ['snapshot', { ...(good.snapshot as object), values: [] }],
      ['snapshot', { ...(good.snapshot as object), manifest: { ...manifest, digest: 'XYZ' } }],
      ['delta', { ...(good.delta as object), remove: [1] }],
      ['delta', { ...(good.delta as object), fromSeq: -1 }],
      ['heartbeat', { at: 5 }],
      ['keys', { keys: {} }],
      ['view-error', { view: 'v', code: 'x' }],
    ];
    for (const [name, data] of broken) {
      const parsed = parseWatchEvent(name, JSON.stringify(data));
      assert.equal(parsed.status, 'invalid', `${name} ${JSON.stringify(data)}`);
      if (parsed.status === 'invalid') assert.deepEqual(parsed.data, data);
    }
  });
});
