/** Signing keys (SigningKeyStore). */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { SigningKeyRecord } from '../types.js';
import { allAudit, audit, type ConformanceTest } from './helpers.js';

export function signingKeyConformance(test: ConformanceTest): void {
  void describe('signing keys', () => {
    test('addSigningKey stores keys, audited; listSigningKeys lists them oldest first', async (store) => {
      const k2: SigningKeyRecord = {
        keyId: 'k2',
        publicKey: 'pub2',
        encryptedPrivateKey: 'enc2',
        createdAt: 2000,
        endorsedBy: { keyId: 'k1', signature: 'sig' },
      };
      const k1: SigningKeyRecord = {
        keyId: 'k1',
        publicKey: 'pub1',
        encryptedPrivateKey: 'enc1',
        createdAt: 1000,
        endorsedBy: null,
      };
      const k0: SigningKeyRecord = {
        keyId: 'k0',
        publicKey: 'pub0',
        encryptedPrivateKey: 'enc0',
        createdAt: 2000,
        endorsedBy: null,
      };
      for (const key of [k2, k1, k0]) await store.addSigningKey(key, audit('signing-key.add', `key:${key.keyId}`));
      assert.deepEqual(await store.listSigningKeys(), [k1, k0, k2]);
      assert.deepEqual(
        (await allAudit(store)).map((r) => r.target),
        ['key:k2', 'key:k1', 'key:k0'],
      );
    });
  });
}
