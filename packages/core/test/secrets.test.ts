import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeraldError, SecretCipher } from '../src/index.js';

const address = 'payments\u0000db/password\u0000prod';

function isDecryptFailure(error: unknown): boolean {
  return error instanceof HeraldError && error.code === 'internal' && error.status === 500;
}

void test('round trip, including empty, Unicode and large plaintexts', () => {
  const cipher = new SecretCipher(SecretCipher.generateKey());
  for (const plaintext of ['hunter2', '', 'ключ 😀 設定', '{"json":true}', 'x'.repeat(1024 * 1024)]) {
    const ciphertext = cipher.encrypt(plaintext, address);
    assert.equal(cipher.decrypt(ciphertext, address), plaintext);
  }
});

void test('the ciphertext is versioned base64 and does not contain the plaintext', () => {
  const cipher = new SecretCipher(SecretCipher.generateKey());
  const ciphertext = cipher.encrypt('correct horse battery staple', address);
  assert.match(ciphertext, /^v1:[A-Za-z0-9+/]+=*$/u);
  assert.ok(!ciphertext.includes('correct horse'));
  assert.ok(!Buffer.from(ciphertext.slice(3), 'base64').toString('latin1').includes('correct horse'));
  // 12-byte IV + 16-byte tag + one byte per plaintext byte.
  assert.equal(Buffer.from(ciphertext.slice(3), 'base64').length, 12 + 16 + 'correct horse battery staple'.length);
});

void test('a second cipher with the same key decrypts', () => {
  const key = SecretCipher.generateKey();
  const ciphertext = new SecretCipher(key).encrypt('s', address);
  assert.equal(new SecretCipher(Buffer.from(key)).decrypt(ciphertext, address), 's');
});

void test('the cipher keeps its own copy of the key', () => {
  const key = SecretCipher.generateKey();
  const cipher = new SecretCipher(key);
  const ciphertext = cipher.encrypt('s', address);
  key.fill(0);
  assert.equal(cipher.decrypt(ciphertext, address), 's');
});

void test('the wrong key fails with a HeraldError', () => {
  const ciphertext = new SecretCipher(SecretCipher.generateKey()).encrypt('s', address);
  const other = new SecretCipher(SecretCipher.generateKey());
  assert.throws(() => other.decrypt(ciphertext, address), isDecryptFailure);
});

void test('a ciphertext moved to another address (different associated data) fails', () => {
  const cipher = new SecretCipher(SecretCipher.generateKey());
  const ciphertext = cipher.encrypt('s', address);
  for (const elsewhere of [
    'payments\u0000db/password\u0000dev',
    'payments\u0000db/user\u0000prod',
    'other\u0000db/password\u0000prod',
    '',
  ]) {
    assert.throws(() => cipher.decrypt(ciphertext, elsewhere), isDecryptFailure, JSON.stringify(elsewhere));
  }
});

void test('each encryption uses a fresh IV: two ciphertexts of the same plaintext differ', () => {
  const cipher = new SecretCipher(SecretCipher.generateKey());
  const ciphertexts = Array.from({ length: 50 }, () => cipher.encrypt('same', address));
  assert.equal(new Set(ciphertexts).size, 50);
  const ivs = ciphertexts.map((c) => Buffer.from(c.slice(3), 'base64').subarray(0, 12).toString('hex'));
  assert.equal(new Set(ivs).size, 50);
  for (const c of ciphertexts) assert.equal(cipher.decrypt(c, address), 'same');
});

void test('a tampered ciphertext, tag or IV fails with a HeraldError', () => {
  const cipher = new SecretCipher(SecretCipher.generateKey());
  const raw = Buffer.from(cipher.encrypt('sensitive value', address).slice(3), 'base64');
  for (const index of [0, 11, 12, 27, 28, raw.length - 1]) {
    const tampered = Buffer.from(raw);
    tampered[index] = (tampered[index] ?? 0) ^ 0x01;
    assert.throws(
      () => cipher.decrypt(`v1:${tampered.toString('base64')}`, address),
      isDecryptFailure,
      `byte ${index}`,
    );
  }
});

void test('a truncated or malformed ciphertext fails with a HeraldError, not a crypto TypeError', () => {
  const cipher = new SecretCipher(SecretCipher.generateKey());
  const valid = cipher.encrypt('value', address);
  const raw = Buffer.from(valid.slice(3), 'base64');
  for (const bad of [
    'v1:',
    'v1:AAAA',
    `v1:${raw.subarray(0, 12).toString('base64')}`,
    `v1:${raw.subarray(0, 20).toString('base64')}`,
    `v1:${raw.subarray(0, 28).toString('base64')}`,
    'v1:!!!!',
  ]) {
    assert.throws(
      () => cipher.decrypt(bad, address),
      (error: unknown) => error instanceof HeraldError,
      bad,
    );
  }
});

void test('an unknown format is refused', () => {
  const cipher = new SecretCipher(SecretCipher.generateKey());
  const valid = cipher.encrypt('value', address);
  for (const bad of ['', 'plaintext', valid.slice(3), `v2:${valid.slice(3)}`]) {
    assert.throws(
      () => cipher.decrypt(bad, address),
      (error: unknown) => error instanceof HeraldError && /unknown format/u.test(error.message),
    );
  }
});

void test('the key must be exactly 32 bytes', () => {
  assert.equal(SecretCipher.generateKey().length, 32);
  assert.notDeepEqual(SecretCipher.generateKey(), SecretCipher.generateKey());
  for (const length of [0, 16, 31, 33, 64]) assert.throws(() => new SecretCipher(Buffer.alloc(length)), /32 bytes/u);
});
